"""The GPU lane: the exactness tests again on a CUDA device, in float32 and in bfloat16.

Marker `gpu`. Without CUDA every test here skips, saying so (on CI too: CI machines have no GPU);
`python scripts/gpu_lane.py` runs the lane on a GPU machine and writes its figures into
contributing/performance.md, and `--quick` runs it on the CPU as a dry run ($TUCO_GPU_LANE_DEVICE=cpu).

Each test mirrors a CPU exactness test (named in its docstring) with the same independent
reference: the naive block-by-block loop (test_joint), run in float64 on the CPU over the very
weights the device holds (rounded to its dtype), or lm-eval's own `hf` model on the same device.
float32 keeps the CPU suite's tolerances; bfloat16 gets the ones tests/helpers/precision.py derives from
its epsilon.
"""

from __future__ import annotations

import copy
import json
import os

import pytest
import torch
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from tests.helpers.ci_policy import lane_device
from tests.helpers.naive import naive_joint
from tests.helpers.precision import (
    logits_tolerance,
    loglikelihood_tolerance,
    stream_tolerance,
    tuco_tolerance,
)
from tests.helpers.reference_prompts import PAIRS, PROMPTS, TEXTS
from tests.helpers.tiny_models import ARCHITECTURES, make_pair, make_tokenizer, save_pair
from tuco_eval.core.joint import Joint, TucoSums
from tuco_eval.core.layers import find_blocks
from tuco_eval.core.pair import join, load_base_model
from tuco_eval.harness import prefix_scoring
from tuco_eval.harness.tuco_scaled import TucoScaledLM

pytestmark = pytest.mark.gpu

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
RECORD_ENV = "TUCO_GPU_LANE_RECORD"  # a JSON-lines file: every tolerance check's error and bound
GENERATION_ARCHS = ["llama", "gemma2", "gpt_neox"]  # plain, sliding-window, parallel-residual caches


def within(check: str, dtype: torch.dtype, error, tolerance: float) -> None:
    """Assert error <= tolerance; with $TUCO_GPU_LANE_RECORD, also append both to that file (the
    lane script reports the largest error/tolerance ratio per check)."""
    error = float(error)
    if os.environ.get(RECORD_ENV):
        with open(os.environ[RECORD_ENV], "a", encoding="utf-8") as record:
            record.write(json.dumps({"check": check, "dtype": str(dtype).removeprefix("torch."),
                                     "error": error, "tolerance": tolerance}) + "\n")
    assert error <= tolerance, (check, error, tolerance)


@pytest.fixture(scope="module")
def device() -> torch.device:
    return lane_device()


@pytest.fixture(params=sorted(DTYPES))
def dtype(request) -> torch.dtype:
    return DTYPES[request.param]


def _on(models, device, dtype):
    return [m.to(device=device, dtype=dtype) for m in models]


def _float64_copies(*models):
    """The same weights (already rounded to the lane's dtype), in float64 on the CPU."""
    return [copy.deepcopy(m).to(device="cpu", dtype=torch.float64) for m in models]


def _reference(ft64, base64, ids: list[int], alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, log-probabilities) of one prompt by the float64 naive loop, then FT's norm and head."""
    x, _ = naive_joint(ft64, base64, torch.tensor([ids]), alpha)
    handle = find_blocks(ft64)[-1].register_forward_hook(
        lambda m, a, out: (x, *out[1:]) if isinstance(out, tuple) else x)
    try:
        with torch.no_grad():
            logits = ft64(torch.tensor([ids]), use_cache=False).logits[0]
    finally:
        handle.remove()
    return logits, logits.log_softmax(-1)


def _loglikelihood_reference(ft64, base64, context: list[int], continuation: list[int], alpha: float,
                             dtype: torch.dtype) -> tuple[float, bool, float]:
    """(log-likelihood, greedy, tolerance in `dtype`) of a continuation by the float64 reference."""
    logits, logp = _reference(ft64, base64, (context + continuation)[:-1], alpha)
    target = torch.tensor(continuation)
    picked = logp[-len(continuation):]
    tolerance = loglikelihood_tolerance(dtype, len(find_blocks(ft64)), len(continuation),
                                        logit_scale=float(logits.abs().max()),
                                        logprob_scale=float(logp.abs().max()))
    greedy = bool((picked.argmax(-1) == target).all())
    return float(picked.gather(-1, target[:, None]).sum()), greedy, tolerance


def _ids(device, batch: int = 2, length: int = 11) -> torch.Tensor:
    return torch.randint(3, 90, (batch, length), generator=torch.Generator().manual_seed(0)).to(device)


def _stream_and_tuco(ft, joint: Joint, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The residual stream after the last block, and TuCo at the last token, of one joint pass."""
    seen = {}
    sums = TucoSums(positions=torch.full((ids.shape[0],), ids.shape[1] - 1))
    with torch.no_grad(), joint.active(sums):  # a hook after the joint's: it sees the mixed output
        handle = find_blocks(ft)[-1].register_forward_hook(
            lambda m, a, o: seen.setdefault("x", o[0] if isinstance(o, tuple) else o))
        try:
            ft(ids, use_cache=False)
        finally:
            handle.remove()
    return seen["x"], sums.tuco()


# --- the naive loop (test_joint) ------------------------------------------------------------

@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_joint_pass_equals_the_float64_naive_loop(device, dtype, arch):
    """test_joint::test_scaled_stream_equals_naive_loop and ::test_tuco_equals_naive_loop."""
    ft, base = _on(make_pair(arch), device, dtype)
    ft64, base64 = _float64_copies(ft, base)
    blocks, ids = len(find_blocks(ft)), _ids(device)
    for alpha in (0.5, 1.0, 1.25):
        expected, expected_tuco = naive_joint(ft64, base64, ids.cpu(), alpha)
        got, tuco = _stream_and_tuco(ft, Joint(ft, [b.forward for b in find_blocks(base)], alpha=alpha), ids)
        error = (got.double().cpu() - expected).abs().max() / expected.abs().max()
        within(f"stream, {arch}, α={alpha}", dtype, error, stream_tolerance(dtype, blocks))
        within(f"TuCo, {arch}, α={alpha}", dtype, (tuco.double().cpu() - expected_tuco).abs().max(),
               tuco_tolerance(dtype, blocks))
    with torch.no_grad():  # α = 1: the base blocks run for TuCo, the fine-tuned output passes as it is
        alone = ft(ids).logits
        with Joint(ft, [b.forward for b in find_blocks(base)], alpha=1.0).active(TucoSums()):
            assert torch.equal(ft(ids).logits, alone)


# --- lm-eval's `hf` at α = 1, and the reference at α ≠ 1 (test_lm, test_exactness) ------------

def _lm(ft, base, alpha, **kwargs) -> TucoScaledLM:
    return TucoScaledLM(pretrained=ft, base=base, tokenizer=make_tokenizer(), alpha=alpha, batch_size=3,
                        **kwargs)


def _requests():
    return ([Instance("loglikelihood", {}, p, idx=i) for i, p in enumerate(PAIRS)],
            [Instance("loglikelihood_rolling", {}, (t,), idx=i) for i, t in enumerate(TEXTS)],
            [Instance("generate_until", {}, (p, {"until": ["\n\n"], "max_gen_toks": 5, "do_sample": False}),
                      idx=i) for i, p in enumerate(PROMPTS)])


def _answers(lm):
    scored, rolling, generated = _requests()
    return lm.loglikelihood(scored), lm.loglikelihood_rolling(rolling), lm.generate_until(generated)


def test_alpha_one_is_lm_evals_hf_bit_for_bit(device, dtype):
    """test_lm::test_alpha_one_and_zero_match_plain_hf, test_exactness::test_alpha_one_rolling_..."""
    ft, base = _on(make_pair("llama"), device, dtype)
    hf = _answers(HFLM(pretrained=ft, tokenizer=make_tokenizer(), batch_size=3))
    assert _answers(_lm(ft, base, 1.0, prefix_reuse=False)) == hf
    # TuCo logged: the hooks run the base blocks, the fine-tuned output still passes untouched
    logged = _lm(ft, base, 1.0, prefix_reuse=False, log_tuco=True)
    assert _answers(logged) == hf


def test_loglikelihood_at_alpha_equals_the_float64_reference(device, dtype):
    """test_exactness::test_loglikelihood_equals_the_reference (α = 1.25, TuCo logged too)."""
    ft, base = _on(make_pair("llama"), device, dtype)
    ft64, base64 = _float64_copies(ft, base)
    lm = _lm(ft, base, 1.25, prefix_reuse=False, log_tuco=True)
    requests, _, _ = _requests()
    results = lm.loglikelihood(requests)
    for request, (loglik, greedy) in zip(requests, results, strict=True):
        context, continuation = lm._encode_pair(*request.args[:2])
        expected, expected_greedy, tolerance = _loglikelihood_reference(ft64, base64, context, continuation,
                                                                        1.25, dtype)
        within("log-likelihood at α=1.25", dtype, abs(loglik - expected), tolerance)
        if dtype == torch.float32:  # bfloat16 may break near-ties the other way
            assert greedy == expected_greedy
        _, tuco = naive_joint(ft64, base64, torch.tensor([context]), 1.25)
        within("logged TuCo at α=1.25", dtype, abs(request.args[2]["tuco"] - tuco.item()),
               tuco_tolerance(dtype, len(find_blocks(ft))))


# --- generation with the shared cache (test_generation) -------------------------------------

def _left_padded(device, lengths=(9, 5)) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, -length:] = torch.randint(3, 90, (length,), generator=generator)
        mask[row, -length:] = 1
    return ids.to(device), mask.to(device)


@pytest.mark.parametrize("arch", GENERATION_ARCHS)
def test_cached_generation_equals_the_cache_free_pass(device, dtype, arch):
    """test_generation::test_cached_generation_equals_cache_free_generation (greedy, beams)."""
    ft, base = _on(make_pair(arch), device, dtype)
    ft.generation_config.eos_token_id = None  # always the full number of new tokens
    joint, (ids, mask) = join(ft, base, 1.25), _left_padded(device)
    blocks, new = len(find_blocks(ft)), 6
    with torch.no_grad(), joint.active():
        out = ft.generate(ids, attention_mask=mask, max_new_tokens=new, do_sample=False, pad_token_id=0,
                          use_cache=True, output_logits=True, return_dict_in_generate=True)
        # the same tokens again in one cache-free pass: each step's logits must be the ones generate saw
        full_mask = torch.cat([mask, torch.ones_like(out.sequences[:, ids.shape[1]:])], dim=1)
        positions = (full_mask.cumsum(-1) - 1).clamp_min(0)
        free = ft(out.sequences, attention_mask=full_mask, position_ids=positions, use_cache=False).logits
    cached = torch.stack(out.logits, dim=1).float()  # [batch, new, vocab]
    expected = free[:, ids.shape[1] - 1 : -1].float()
    error = (cached - expected).abs().max() / expected.abs().max()
    within(f"cached generation logits, {arch}", dtype, error, logits_tolerance(dtype, blocks))
    if dtype == torch.float32:  # tokens too, for greedy and beam search (bfloat16 may flip near-ties)
        for decoding in ({"do_sample": False}, {"do_sample": False, "num_beams": 3}):
            with torch.no_grad(), joint.active():
                runs = [ft.generate(ids, attention_mask=mask, max_new_tokens=new, pad_token_id=0,
                                    use_cache=use_cache, **decoding) for use_cache in (True, False)]
            assert torch.equal(*runs), decoding


# --- prefix reuse (test_prefix) --------------------------------------------------------------

def test_prefix_reuse_equals_the_plain_path(device, dtype, monkeypatch):
    """test_prefix::test_reuse_equals_the_plain_path, with the prefill counted."""
    prefills: list[int] = []
    original = prefix_scoring.PrefixScorer.prefill
    monkeypatch.setattr(prefix_scoring.PrefixScorer, "prefill",
                        lambda self, prefix: prefills.append(len(prefix)) or original(self, prefix))
    ft, base = _on(make_pair("mistral"), device, dtype)  # sliding window 6 across the prefix
    requests = [Instance("loglikelihood", {}, p, idx=i) for i, p in enumerate(PAIRS)]
    reused = _lm(ft, base, 1.3, prefix_reuse=True).loglikelihood(requests)
    assert len(prefills) == 1  # the six few-shot contexts shared one prefill
    plain = _lm(ft, base, 1.3, prefix_reuse=False).loglikelihood(requests)
    assert len(prefills) == 1
    ft64, base64 = _float64_copies(ft, base)
    lm = _lm(ft, base, 1.3)
    for request, (a, greedy_a), (b, greedy_b) in zip(requests, reused, plain, strict=True):
        context, continuation = lm._encode_pair(*request.args)
        _, _, tolerance = _loglikelihood_reference(ft64, base64, context, continuation, 1.3, dtype)
        within("prefix reuse against the plain path", dtype, abs(a - b), 2 * tolerance)  # two computations
        if dtype == torch.float32:
            assert greedy_a == greedy_b


# --- adapters (test_adapters) ----------------------------------------------------------------

@pytest.fixture(scope="module")
def adapter_dirs(tmp_path_factory):
    """(LoRA adapter folder, base folder): LoRA on attention and MLP of every block."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("lane-adapter")
    _, base_dir = save_pair(root, "llama")
    torch.manual_seed(3)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                        init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir), config).save_pretrained(root / "lora")
    return str(root / "lora"), base_dir


def test_adapter_pair_loaded_on_the_device_equals_the_merged_reference(device, dtype, adapter_dirs):
    """test_adapters / test_pair: a LoRA folder over its base, loaded by `tuco_scaled` itself."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter_dir, base_dir = adapter_dirs
    name = {torch.float32: "float32", torch.bfloat16: "bfloat16"}[dtype]
    lm = TucoScaledLM(pretrained=adapter_dir, base=base_dir, alpha=1.3, device=str(device), dtype=name,
                      batch_size=3, prefix_reuse=False)
    assert lm.base_model is None and next(lm.model.parameters()).device.type == device.type
    # the reference: two separate float64 models, the adapter merged by peft
    base64 = AutoModelForCausalLM.from_pretrained(base_dir).to(dtype).double().eval()
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir).to(dtype), adapter_dir)
    ft64 = merged.double().merge_and_unload().eval()
    requests = [Instance("loglikelihood", {}, p, idx=i) for i, p in enumerate(PAIRS[-3:])]
    for request, (loglik, _) in zip(requests, lm.loglikelihood(requests), strict=True):
        context, continuation = lm._encode_pair(*request.args)
        expected, _, tolerance = _loglikelihood_reference(ft64, base64, context, continuation, 1.3, dtype)
        # peft adds the LoRA term in float32 to the dtype's base output: one more rounding
        within("LoRA pair log-likelihood at α=1.3", dtype, abs(loglik - expected), 2 * tolerance)
    lm.alpha = 0.0  # α = 0: the adapter switched off inside every block is exactly the base model
    ids = _ids(device)
    with torch.no_grad():
        base_alone = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype).to(device).eval()(ids).logits
        with lm.scaling.active():
            zero = lm.model(ids).logits
    error = (zero - base_alone).abs().max() / base_alone.abs().max()
    within("LoRA pair at α=0 against the base", dtype, error, logits_tolerance(dtype, len(find_blocks(base64))))


# --- placement over two places (test_pair) ---------------------------------------------------

def test_base_follows_a_device_map_over_two_places(device, dtype, pair_dirs, tmp_path):
    """test_pair::test_base_device_map_follows_the_finetuned_blocks, across the GPU and the CPU."""
    from transformers import AutoModelForCausalLM

    first, second = (0, "cpu") if device.type == "cuda" else ("cpu", "disk")  # dry run: accelerate's disk
    places = {"model.embed_tokens": first, "model.rotary_emb": first, "model.layers.0": first,
              "model.layers.1": second, "model.layers.2": second, "model.norm": second, "lm_head": second}
    ft = AutoModelForCausalLM.from_pretrained(pair_dirs[0], dtype=dtype, device_map=places,
                                              offload_folder=str(tmp_path / "offload")).eval()
    base = load_base_model(pair_dirs[1], like=ft)
    assert base.hf_device_map == ft.hf_device_map and len(set(ft.hf_device_map.values())) == 2
    ids = _ids("cpu")
    with torch.no_grad(), join(ft, base, 1.3).active():
        logits = ft(ids.to(ft.device)).logits.double().cpu()
    ft64, base64 = (AutoModelForCausalLM.from_pretrained(d, dtype=dtype).double().eval() for d in pair_dirs)
    expected = torch.stack([_reference(ft64, base64, row.tolist(), 1.3)[0] for row in ids])
    error = (logits - expected).abs().max() / expected.abs().max()
    within("device map over two places", dtype, error, logits_tolerance(dtype, len(find_blocks(ft))))

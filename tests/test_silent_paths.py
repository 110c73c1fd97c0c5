"""Paths that once gave wrong numbers without a word (issue 20), each against an independent
reference: cache-free generation, the base or fine-tuned model's own output, the naive block loop."""

from __future__ import annotations

import copy
from contextlib import nullcontext

import pytest
import torch
import transformers as tf
from lm_eval import simple_evaluate
from lm_eval.models.huggingface import HFLM

from tests.helpers.position_pairs import IDS, pair_with_configs
from tests.helpers.tiny_models import LLAMA_LIKE, make_tokenizer
from tuco_eval.core.joint import NonFiniteError
from tuco_eval.core.layers import unwrap
from tuco_eval.core.nonfinite import finite_answer
from tuco_eval.core.pair import join
from tuco_eval.core.scaling import Scaling
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.util.errors import TucoError

# --- a static cache on a pair whose sliding windows differ, both directions ---------------------

WINDOW_PAIRS = {
    "ft window 4, base full": (tf.MistralConfig(sliding_window=4, **LLAMA_LIKE),
                               tf.MistralConfig(sliding_window=None, **LLAMA_LIKE)),
    "ft full, base window 4": (tf.MistralConfig(sliding_window=None, **LLAMA_LIKE),
                               tf.MistralConfig(sliding_window=4, **LLAMA_LIKE)),
}


def _window_pair(case):
    ft, base = pair_with_configs(tf.MistralForCausalLM, *(copy.deepcopy(c) for c in WINDOW_PAIRS[case]))
    for model in (ft, base):
        model.generation_config.eos_token_id = None  # always max_new_tokens new tokens
    return ft, base


def _greedy(model, context, **kwargs):
    ids = IDS[:, :14]
    mask = torch.ones_like(ids)
    mask[1, :5] = 0  # one left-padded row
    with torch.no_grad(), context:
        out = model.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=0,
                             output_scores=True, return_dict_in_generate=True, **kwargs)
    return out.sequences, torch.stack(out.scores).log_softmax(-1)


@pytest.mark.parametrize("mode", ["activation", "logits"])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize("case", sorted(WINDOW_PAIRS))
def test_static_cache_with_differing_windows_equals_cache_free(case, alpha, mode):
    """generate expands a static cache's masks beforehand, for the fine-tuned config only; the base
    builds its own from the 2-D padding mask, as without a static cache."""
    ft, base = _window_pair(case)
    scaling = Scaling(ft, base, join(ft, base, alpha), mode)
    assert scaling.joint.positions is not None and not scaling.joint.positions.same_masks
    sequences, scores = _greedy(ft, scaling.active(), use_cache=False)
    static_sequences, static_scores = _greedy(ft, scaling.active(), use_cache=True, cache_implementation="static")
    assert torch.equal(static_sequences, sequences)
    assert torch.allclose(static_scores, scores, atol=1e-4)
    if mode == "logits" and alpha == 0.0:  # the mix at α = 0 is the base model: its own greedy text
        base_sequences, _ = _greedy(base, nullcontext(), use_cache=True, cache_implementation="static")
        assert torch.equal(static_sequences, base_sequences)


def test_static_cache_with_the_finetuned_masks_would_be_wrong():
    """The test above can fail: the fine-tuned model's masks in the base pass give other scores
    (base full attention) or a shape error (base windowed)."""
    ft, base = _window_pair("ft window 4, base full")
    scaling = Scaling(ft, base, join(ft, base, 0.5), "logits")
    _, scores = _greedy(ft, scaling.active(), use_cache=False)
    scaling.logit_mix._masks = None  # the mask generate made for the fine-tuned windows, as it was
    _, static_scores = _greedy(ft, scaling.active(), use_cache=True, cache_implementation="static")
    assert (static_scores - scores).abs().max() > 1e-2


@pytest.mark.parametrize("mode", ["activation", "logits"])
def test_a_mask_expanded_elsewhere_is_refused_in_one_line(mode):
    """A 4-D mask the caller expanded for the fine-tuned windows: the base cannot rebuild its own."""
    ft, base = _window_pair("ft window 4, base full")
    scaling = Scaling(ft, base, join(ft, base, 0.5), mode)
    ids = IDS[:, :9]
    expanded = torch.ones(2, 1, 9, 9, dtype=torch.bool).tril()
    with torch.no_grad(), scaling.active(), pytest.raises(TucoError, match="pass the 2-D padding mask") as raised:
        ft(ids, attention_mask=expanded, use_cache=False)
    assert "\n" not in str(raised.value)


@pytest.fixture(scope="module", params=sorted(WINDOW_PAIRS))
def window_dirs(request, tmp_path_factory):
    """(fine-tuned folder, base folder) of each window pairing, with the test tokenizer."""
    ft, base = _window_pair(request.param)
    root, tokenizer = tmp_path_factory.mktemp("windows"), make_tokenizer()
    for name, model in (("finetuned", ft), ("base", base)):
        model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = 1, 2, 0
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    return str(root / "finetuned"), str(root / "base")


def _responses(lm, task_manager, task="tiny_gen_static"):
    out = simple_evaluate(model=lm, tasks=[task], task_manager=task_manager, log_samples=True,
                          bootstrap_iters=0, limit=8)  # two left-padded batches of 4
    return [s["resps"] for s in sorted(out["samples"][task], key=lambda s: s["doc_id"])]


def test_generate_until_with_a_static_cache_and_differing_windows(window_dirs, task_manager, monkeypatch):
    """`cache_implementation: static` in a task's generation kwargs, logits and activation modes:
    α = 0 in logits mode is the base model's own greedy text; α = 0.5 equals cache-free generation."""
    lm = TucoScaledLM(pretrained=window_dirs[0], base=window_dirs[1], alpha=0.0, mode="logits", device="cpu",
                      batch_size=4)
    base = HFLM(pretrained=window_dirs[1], device="cpu", batch_size=4)
    assert _responses(lm, task_manager) == _responses(base, task_manager)
    static = {}
    for mode in ("logits", "activation"):
        lm.mode, lm.alpha = mode, 0.5
        static[mode] = _responses(lm, task_manager)
    original = lm.model.generate
    monkeypatch.setattr(lm.model, "generate", lambda *a, **k: original(*a, **{**k, "use_cache": False}))
    for mode in ("logits", "activation"):
        lm.mode = mode
        assert static[mode] == _responses(lm, task_manager), mode
    assert static["logits"] != static["activation"]  # the modes differ: each was really computed


# --- a PEFT pair whose adapters change after `join` ---------------------------------------------


def _peft_logits(model, context=None):
    with torch.no_grad(), context or nullcontext():
        return model(PEFT_IDS, use_cache=False).logits


PEFT_IDS = torch.tensor([[1, 5, 9, 14, 33, 60, 7, 8], [1, 40, 41, 3, 22, 17, 90, 2]])


@pytest.mark.parametrize("change", ["load_adapter", "add_adapter"])
def test_joint_follows_adapters_loaded_and_activated_after_join(pair_dirs, tmp_path, change):
    """join, then a second adapter (on other modules and blocks) loaded and made active: α = 0 is the
    base model, α = 1 the model with the new adapter, α = 0.5 the naive loop; in every mode."""
    from peft import LoraConfig

    from tests.helpers.naive import reference_logits
    from tests.helpers.peft_models import load_base, lora_model

    base = load_base(pair_dirs)
    model = lora_model(copy.deepcopy(base), target_modules=["q_proj", "v_proj"], layers_to_transform=[1])
    scalings = {mode: Scaling(model, None, join(model, None), mode) for mode in ("activation", "logits", "weights")}
    for scaling in scalings.values():  # each used once before the change: its state is built
        scaling.joint.alpha = 0.5
        _peft_logits(model, scaling.active())
    second = lora_model(copy.deepcopy(base), seed=7, target_modules=["k_proj", "down_proj"])  # every block
    if change == "load_adapter":
        second.save_pretrained(tmp_path / "second")
        model.load_adapter(str(tmp_path / "second"), adapter_name="second")
    else:
        model.add_adapter("second", LoraConfig(r=4, lora_alpha=8, target_modules=["k_proj", "down_proj"],
                                               init_lora_weights=False))
        model.load_state_dict({k.replace(".default.", ".second."): v for k, v in second.state_dict().items()
                               if "lora_" in k}, strict=False)
    model.set_adapter("second")
    model.eval()
    want_base, want_ft = _peft_logits(base), _peft_logits(second)
    assert torch.equal(_peft_logits(model), want_ft)  # the new adapter is what the model now runs
    merged = copy.deepcopy(second).merge_and_unload()  # peft's own merge: a plain fine-tuned model
    naive = torch.stack([reference_logits(merged, base, row.tolist(), 0.5) for row in PEFT_IDS])
    for mode, scaling in scalings.items():
        for alpha, want in ((0.0, want_base), (1.0, want_ft)):
            scaling.joint.alpha = alpha
            torch.testing.assert_close(_peft_logits(model, scaling.active()).log_softmax(-1),
                                       want.log_softmax(-1), atol=1e-5, rtol=0, msg=f"{mode} α={alpha}")
    scalings["activation"].joint.alpha = 0.5
    half = _peft_logits(model, scalings["activation"].active()).log_softmax(-1)
    torch.testing.assert_close(half, naive, atol=1e-5, rtol=0)


# --- TuCo and KL logged for generate_until see the prompt generation saw ------------------------


def test_logged_tuco_and_kl_of_a_truncated_prompt_are_those_generation_saw(pair_dirs, task_manager, monkeypatch):
    """Prompts longer than max_length − max_gen_toks: HFLM generates from their last
    max_length − max_gen_toks tokens (lm-eval 0.4.13), and the logged TuCo and KL are those of
    exactly those tokens (the naive loop, a loop over the vocabulary), not of a longer cut."""
    from transformers import AutoModelForCausalLM

    from tests.helpers.naive import naive_joint, naive_next_token_measures

    ft, base = (AutoModelForCausalLM.from_pretrained(d).eval() for d in pair_dirs)
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], alpha=0.5, device="cpu", batch_size=4,
                      max_length=16, log_tuco=True, log_kl=True)
    seen: list[list[int]] = []  # each row lm-eval generated from, without its left padding
    original = lm._model_generate

    def spy(**kwargs):  # HFLM calls it with keywords only
        rows = zip(kwargs["context"], kwargs["attention_mask"], strict=True)
        seen.extend(row[mask.bool()].tolist() for row, mask in rows)
        return original(**kwargs)

    monkeypatch.setattr(lm, "_model_generate", spy)
    out = simple_evaluate(model=lm, tasks=["tiny_gen"], task_manager=task_manager, log_samples=True,
                          bootstrap_iters=0, limit=4)
    samples = out["samples"]["tiny_gen"]
    room = 16 - 4  # max_length − the task's max_gen_toks
    cut = {s["doc_id"]: lm.tokenizer(s["arguments"][0][0])["input_ids"] for s in samples}  # (context, kwargs, log)
    assert all(len(ids) > 16 for ids in cut.values())  # every prompt is longer than the whole context
    cut = {doc: ids[-room:] for doc, ids in cut.items()}
    assert sorted(seen) == sorted(cut.values())  # the independent cut is the one generation saw
    for sample in samples:
        logged, row = sample["arguments"][0][2], torch.tensor([cut[sample["doc_id"]]])
        _, tuco = naive_joint(ft, base, row, 0.5)
        assert logged["tuco"] == pytest.approx(float(tuco[0]), abs=1e-5)
        with torch.no_grad():
            kl, *_ = naive_next_token_measures(ft(row).logits[0, -1], base(row).logits[0, -1])
        assert logged["kl"] == pytest.approx(kl, abs=1e-5)


def test_logged_kl_of_a_truncated_loglikelihood_context_is_that_of_the_scored_row(pair_dirs):
    """A (context, continuation) longer than max_length: HFLM scores its last max_length + 1 tokens
    less one; the KL logged at the last context token sees that row's context, as TuCo does."""
    from lm_eval.api.instance import Instance
    from transformers import AutoModelForCausalLM

    from tests.helpers.naive import naive_next_token_measures

    ft, base = (AutoModelForCausalLM.from_pretrained(d).eval() for d in pair_dirs)
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4, max_length=16,
                      log_kl=True)
    pairs = [("Is the following statement something you would say? the quick brown fox", " Yes"),
             ("Question: what is fine-tuning? It changes a pre-trained model with", " new data")]
    lm.loglikelihood([Instance("loglikelihood", {}, p, idx=i) for i, p in enumerate(pairs)])
    for context, continuation in pairs:
        ctx, cont = lm._encode_pair(context, continuation)
        assert len(ctx) + len(cont) > 17  # longer than max_length + 1: lm-eval cuts it
        row = torch.tensor([(ctx + cont)[-17:][: -len(cont)]])  # the context part of the scored row
        with torch.no_grad():
            kl, *_ = naive_next_token_measures(ft(row).logits[0, -1], base(row).logits[0, -1])
        request = Instance("loglikelihood", {}, (context, continuation), idx=0)
        lm.loglikelihood([request])
        assert request.args[2]["kl"] == pytest.approx(kl, abs=1e-5)


# --- NaN and inf refused in every mode at every α, named by α and the place ---------------------

PLACES = {"nan in fine-tuned block 1": "block 1 of 3", "inf in the fine-tuned final norm": "the final norm"}


def _poison(model, fault):
    inner = unwrap(model)
    with torch.no_grad():
        if fault == "nan in fine-tuned block 1":
            inner.model.layers[1].mlp.down_proj.weight[0, 0] = float("nan")
        else:
            inner.model.norm.weight[0] = float("inf")


def _evaluate(lm, task_manager, task, limit=1):
    return simple_evaluate(model=lm, tasks=[task], task_manager=task_manager, limit=limit, bootstrap_iters=0,
                           log_samples=True)


@pytest.mark.parametrize("mode", ["activation", "logits", "weights"])
@pytest.mark.parametrize("fault", sorted(PLACES))
def test_nonfinite_values_are_refused_in_every_mode_at_every_alpha(pair_dirs, task_manager, fault, mode):
    """The place is known by construction (the poisoned weight). Before the final check: at α = 1
    (no hook runs) the block's NaN came back as [(nan, False), ...], and the final norm's inf as NaN
    at every α, without an error."""
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], mode=mode, device="cpu", batch_size=4)
    _poison(lm.model, fault)
    for alpha in (0.0, 0.5, 1.0, 1.25):
        lm.alpha = alpha
        tasks = [("tiny_mc", "logits"), ("tiny_gen", "logits during generation")]
        if alpha == 1.0:  # sampling from NaN fails inside generate: the one line still comes out
            tasks.append(("tiny_gen_sample", "logits during generation"))
        for task, what in tasks:
            match = rf"^non-finite {what} at α={alpha} \(first in the output of {PLACES[fault]}\); not averaged"
            with pytest.raises(NonFiniteError, match=match):
                _evaluate(lm, task_manager, task)


def test_nan_in_the_base_is_named_and_alpha_one_is_untouched(pair_dirs, task_manager):
    """NaN in the base's block 1: named by mode (the logits mode's base pass is the base model's
    own); at α = 1 the base does not count, and every mode gives `--model hf`'s answers bit for bit."""
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4)
    with torch.no_grad():
        lm.base_model.model.layers[1].mlp.down_proj.weight[0, 0] = float("nan")
    hf = HFLM(pretrained=pair_dirs[0], device="cpu", batch_size=4)
    want = [s["resps"] for s in _evaluate(hf, task_manager, "tiny_mc", limit=4)["samples"]["tiny_mc"]]
    for mode, place in (("activation", "block 1 of 3"), ("logits", "the base model's block 1 of 3"),
                        ("weights", "block 1 of 3")):
        lm.mode, lm.alpha = mode, 0.5
        with pytest.raises(NonFiniteError, match=rf"at α=0.5 \(first in the output of {place}\)"):
            _evaluate(lm, task_manager, "tiny_mc")
        lm.alpha = 1.0
        got = [s["resps"] for s in _evaluate(lm, task_manager, "tiny_mc", limit=4)["samples"]["tiny_mc"]]
        assert got == want, mode


def test_a_peft_base_pass_is_named_as_the_base(pair_dirs):
    """Logits mode on a PEFT pair runs the same modules twice: what goes wrong only with the adapter
    off (here a hook that turns block 1's output to NaN then) is named as the base model's."""
    from lm_eval.api.instance import Instance

    from tests.helpers.peft_models import load_base, lora_model
    from tuco_eval.core.pair import Pair

    model = lora_model(load_base(pair_dirs))
    block = unwrap(model).model.layers[1]
    lora = block.self_attn.q_proj
    block.register_forward_hook(lambda m, a, out: out * float("nan") if lora.disable_adapters else None)
    lm = TucoScaledLM.from_pair(Pair(model, make_tokenizer(), None, join(model, None)), mode="logits",
                                device="cpu", batch_size=4)
    lm.alpha = 0.5
    request = Instance("loglikelihood", {}, ("the quick brown fox", " jumps"), idx=0)
    with pytest.raises(NonFiniteError, match=r"at α=0.5 \(first in the output of the base model's block 1 of 3\)"):
        lm.loglikelihood([request])
    lm.alpha = 1.0  # the fine-tuned pass alone: finite
    assert all(finite_answer(answer) for answer in lm.loglikelihood([request]))


def test_a_nonfinite_answer_is_never_stored_in_lm_evals_request_cache(pair_dirs, tmp_path):
    """HFLM stores each answer as it computes it; a NaN stored there would come back unchecked."""
    from lm_eval.api.instance import Instance
    from lm_eval.api.model import CachingLM

    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4, prefix_reuse=False)
    cached = CachingLM(lm, str(tmp_path / "alpha=1.0.db"))
    requests = [Instance("loglikelihood", {}, ("the quick brown fox", " jumps"), idx=0)]
    _poison(lm.model, "nan in fine-tuned block 1")
    with pytest.raises(NonFiniteError):
        cached.loglikelihood(requests)
    assert len(cached.dbdict) == 0


def test_nonfinite_on_the_shared_prefix_path_and_in_score_generate_is_refused(pair_dirs, monkeypatch):
    """The prefix-reuse path (α = 1 runs no hook there either) and `score --generate`'s greedy loop."""
    from tests.helpers.position_pairs import shared_prefix_requests
    from tuco_eval.core.generation import greedy_generate
    from tuco_eval.harness.prefix_scoring import PrefixScorer

    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4)
    _poison(lm.model, "inf in the fine-tuned final norm")
    groups = []
    original = PrefixScorer.score
    monkeypatch.setattr(PrefixScorer, "score", lambda self, *args, **kw: groups.append(1) or original(self, *args, **kw))
    for alpha in (1.0, 1.3):
        lm.alpha = alpha
        with pytest.raises(NonFiniteError, match=rf"at α={alpha} \(first in the output of the final norm\)"):
            lm._loglikelihood_tokens(shared_prefix_requests())
    assert groups  # the shared prefix was really scored once per group
    for alpha in (1.0, 0.5):
        with pytest.raises(NonFiniteError, match=rf"at α={alpha} \(first in the output of the final norm\)"):
            greedy_generate(lm.joint, [[1, 5, 9, 14], [1, 40]], 3, alpha=alpha, pad_id=0, eos_ids=[2])

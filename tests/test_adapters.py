"""The base side of a PEFT pair is exactly the base model: modules_to_save, DoRA, several adapters,
trainable tokens; adapters that cannot be switched off are refused at load."""

from __future__ import annotations

import copy

import pytest
import torch
from lm_eval import simple_evaluate
from lm_eval.models.huggingface import HFLM

from tests.helpers.peft_models import IDS, load_base, lora_model
from tuco_eval.core.base_pass import base_forward
from tuco_eval.core.joint import Joint
from tuco_eval.core.measures import next_token_measures
from tuco_eval.core.pair import Pair, base_blocks_for, load_pair
from tuco_eval.core.weight_mix import LoraWeightMix
from tuco_eval.experiments.outputco import compute_outputco
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.util.errors import TucoError

MASK = torch.ones_like(IDS)


def _logits(model, ids=IDS):
    with torch.no_grad():
        return model(ids).logits


def _log_probs(logits):
    return torch.log_softmax(logits.float(), -1)


def _at_alpha(peft_model, alpha):
    joint = Joint(peft_model, base_blocks_for(peft_model, None), alpha=alpha)
    with torch.no_grad(), joint.active():
        return _logits(peft_model)


@pytest.fixture(scope="module")
def saved_dir(pair_dirs, tmp_path_factory):
    """A LoRA adapter folder that also saves (a perturbed copy of) every block's down_proj."""
    folder = tmp_path_factory.mktemp("adapter") / "lora-mts"
    lora_model(load_base(pair_dirs), modules_to_save=["down_proj"]).save_pretrained(folder)
    return str(folder)


def _samples(model, task_manager, limit=8):
    out = simple_evaluate(model=model, tasks=["tiny_mc"], task_manager=task_manager,
                          log_samples=True, bootstrap_iters=0, limit=limit)
    return torch.tensor([[r[0][0] for r in s["resps"]]
                         for s in sorted(out["samples"]["tiny_mc"], key=lambda s: s["doc_id"])])


def test_saved_block_module_is_off_at_alpha_zero_through_lm_eval(saved_dir, pair_dirs, task_manager):
    lm = TucoScaledLM(pretrained=saved_dir, base=pair_dirs[1], alpha=0.0, device="cpu", batch_size=4)
    assert lm.base_model is None
    want_base = _samples(HFLM(pretrained=pair_dirs[1], device="cpu", batch_size=4), task_manager)
    want_ft = _samples(HFLM(pretrained=pair_dirs[1], peft=saved_dir, device="cpu", batch_size=4),
                       task_manager)
    assert (want_ft - want_base).abs().max() > 0.05  # the saved down_proj copies really differ
    for mode in ("activation", "logits", "weights"):
        lm.mode, lm.alpha = mode, 0.0
        torch.testing.assert_close(_samples(lm, task_manager), want_base, atol=1e-4, rtol=0)
        lm.alpha = 1.0
        torch.testing.assert_close(_samples(lm, task_manager), want_ft, atol=1e-5, rtol=0)
    lm.mode = "activation"  # leaving weights mode puts θ_FT back
    torch.testing.assert_close(_samples(lm, task_manager), want_ft, atol=1e-5, rtol=0)


def test_kl_and_outputco_base_sides_are_the_base(saved_dir, pair_dirs):
    pair = load_pair(saved_dir, pair_dirs[1])
    base = load_base(pair_dirs)
    torch.testing.assert_close(base_forward(pair.model, None)(IDS).logits, _logits(base), atol=1e-5, rtol=0)
    with torch.no_grad():
        shared = next_token_measures(pair.model, None, IDS, MASK)["kl"]
        separate = next_token_measures(pair.model, base, IDS, MASK)["kl"]
    assert separate.min() > 1e-3
    torch.testing.assert_close(shared, separate, atol=1e-5, rtol=0)
    texts = ["Is the following statement true?", "the quick brown fox"]
    with_base = Pair(model=pair.model, tokenizer=pair.tokenizer, base=base, joint=pair.joint)
    reference = compute_outputco(with_base, texts)
    assert min(reference) > 1e-3
    assert compute_outputco(pair, texts) == pytest.approx(reference, abs=1e-6)


def test_dora_at_alpha_zero_is_the_base_and_one_the_adapter(pair_dirs):
    base = load_base(pair_dirs)
    want_base = _logits(base)
    dora = lora_model(copy.deepcopy(base), use_dora=True, target_modules=["q_proj", "v_proj", "down_proj"])
    want_ft = _logits(dora)
    assert (want_ft - want_base).abs().max() > 1e-2
    torch.testing.assert_close(_at_alpha(dora, 0.0), want_base, atol=1e-5, rtol=0)
    torch.testing.assert_close(_at_alpha(dora, 1.0), want_ft, atol=1e-5, rtol=0)


def test_blocks_without_adapter_layers_run_once_and_change_nothing(pair_dirs):
    """LoRA on the middle block only: the other blocks' base is skipped where no cache is filled,
    and logits and TuCo equal the pass that runs every base block (and peft's own α = 0 and 1)."""
    from tuco_eval.core.joint import TucoSums
    from tuco_eval.core.pair import adapter_free_blocks, join

    base = load_base(pair_dirs)
    want_base = _logits(base)
    model = lora_model(copy.deepcopy(base), target_modules=["q_proj", "v_proj", "down_proj"],
                  layers_to_transform=[1])
    want_ft = _logits(model)
    assert (want_ft - want_base).abs().max() > 1e-2
    assert adapter_free_blocks(model, None) == frozenset({0, 2})
    fast = join(model, None)
    full = Joint(model, base_blocks_for(model, None))  # every base block run: the reference
    calls = []
    fast.base_blocks = [lambda *a, f=f, i=i, **k: calls.append(i) or f(*a, **k)
                        for i, f in enumerate(fast.base_blocks)]
    for alpha in (0.0, 0.6, 1.0, 1.3):
        got = {}
        for name, joint in (("fast", fast), ("full", full)):
            joint.alpha, sums = alpha, TucoSums()
            with torch.no_grad(), joint.active(sums):
                got[name] = (model(IDS, use_cache=False).logits, sums.tuco())
        assert torch.equal(got["fast"][0], got["full"][0]) and torch.equal(got["fast"][1], got["full"][1])
        assert got["fast"][1].abs().max() > 0  # the adapted block still contributes
        if alpha in (0.0, 1.0):
            torch.testing.assert_close(got["fast"][0], want_ft if alpha else want_base, atol=1e-5, rtol=0)
    assert set(calls) == {1}  # blocks 0 and 2: their base never ran without a cache
    calls.clear()
    fast.alpha = 0.6
    with torch.no_grad(), fast.active():
        model.generate(IDS[:1], max_new_tokens=2, do_sample=False)
    assert {0, 2} <= set(calls)  # with a cache the base blocks run and fill their own layers


@pytest.mark.parametrize("active", ["second", "stack", "weighted"])
def test_several_adapters_at_alpha_zero_are_the_base(pair_dirs, active):
    from peft import LoraConfig

    base = load_base(pair_dirs)
    want_base = _logits(base)
    model = lora_model(copy.deepcopy(base), modules_to_save=["down_proj"])
    torch.manual_seed(5)
    saved = ["down_proj"] if active == "second" else None  # peft stacks or weighs one saved copy only
    model.add_adapter("second", LoraConfig(r=4, lora_alpha=8, target_modules=["k_proj", "o_proj"],
                                           init_lora_weights=False, modules_to_save=saved))
    with torch.no_grad():  # the second adapter's own saved copies differ from the base too
        for name, p in model.named_parameters():
            if ".modules_to_save.second." in name:
                p.add_(torch.randn_like(p) * 0.5 * p.std())
    if active == "second":
        model.set_adapter("second")
    elif active == "stack":
        model.base_model.set_adapter(["default", "second"])  # both adapters applied at once
    else:
        model.add_weighted_adapter(["default", "second"], [0.7, 0.6], "mix", combination_type="cat")
        model.set_adapter("mix")
    model.eval()
    want_ft = _logits(model)
    assert (want_ft - want_base).abs().max() > 1e-2
    torch.testing.assert_close(_at_alpha(model, 0.0), want_base, atol=1e-5, rtol=0)
    torch.testing.assert_close(_at_alpha(model, 1.0), want_ft, atol=1e-5, rtol=0)
    weights = LoraWeightMix(model)  # the weights mode's α = 0 is the base too
    weights.set(0.0)
    torch.testing.assert_close(_logits(model), want_base, atol=1e-5, rtol=0)
    weights.restore()
    assert torch.equal(_logits(model), want_ft)


def test_trainable_tokens_alpha_zero_is_base_blocks_on_the_finetuned_embedding(pair_dirs):
    base = load_base(pair_dirs)
    model = lora_model(copy.deepcopy(base), trainable_token_indices=[5, 9, 33])
    with torch.no_grad():  # the new rows of the embedding, as a trained adapter would have them
        for name, p in model.named_parameters():
            if "trainable_tokens_delta" in name:
                p.add_(torch.randn_like(p))
    # the joint pass runs on the fine-tuned model's embedding by definition
    reference = copy.deepcopy(base)
    with torch.no_grad():
        reference.get_input_embeddings().weight.copy_(model.get_input_embeddings().weight)
    assert (_logits(reference) - _logits(base)).abs().max() > 1e-2
    torch.testing.assert_close(_at_alpha(model, 0.0), _logits(reference), atol=1e-5, rtol=0)
    # every other base side is the whole base model, its own embedding included
    torch.testing.assert_close(base_forward(model, None)(IDS).logits, _logits(base), atol=1e-5, rtol=0)
    with pytest.raises(TucoError, match="TrainableTokensLayer"):  # not linear in a LoRA scale
        LoraWeightMix(model)


@pytest.mark.parametrize(("config", "named"), [
    ("prefix", "PREFIX_TUNING"),
    ("bias", "bias='all'"),
])
def test_adapters_that_cannot_be_switched_off_are_refused(pair_dirs, config, named):
    from peft import LoraConfig, PrefixTuningConfig, get_peft_model

    if config == "prefix":
        model = get_peft_model(load_base(pair_dirs), PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    else:
        model = get_peft_model(load_base(pair_dirs), LoraConfig(r=4, target_modules=["q_proj"], bias="all"))
    with pytest.raises(TucoError, match=named) as raised:
        base_blocks_for(model, None)
    assert "\n" not in str(raised.value)

"""`tuco_scaled` with mode=logits|weights inside lm-eval: α identities, restore, logged measures."""

from __future__ import annotations

import pytest
import torch
from lm_eval import simple_evaluate
from lm_eval.models.huggingface import HFLM

from tests.helpers.naive import naive_joint
from tuco_eval.core.measures import SHIFT_CLASSES
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.util.errors import TucoError


@pytest.fixture(scope="module")
def lm(pair_dirs):
    return TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], mode="logits", device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def plain(pair_dirs):
    return [HFLM(pretrained=d, device="cpu", batch_size=4) for d in pair_dirs]


def _samples(model, task_manager, task="tiny_mc", **kwargs):
    out = simple_evaluate(model=model, tasks=[task], task_manager=task_manager, log_samples=True,
                          bootstrap_iters=0, **kwargs)
    return sorted(out["samples"][task], key=lambda s: s["doc_id"])


def _logliks(samples):
    return torch.tensor([[r[0][0] for r in s["resps"]] for s in samples])


@pytest.mark.parametrize("mode", ["logits", "weights"])
def test_alpha_identities_in_lm_eval(lm, plain, task_manager, mode):
    ft_hf, base_hf = plain
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    lm.mode = mode
    try:
        lm.alpha = 1.0
        assert torch.equal(_logliks(_samples(lm, task_manager)), _logliks(_samples(ft_hf, task_manager)))
        lm.alpha = 0.0
        torch.testing.assert_close(_logliks(_samples(lm, task_manager)),
                                   _logliks(_samples(base_hf, task_manager)), atol=1e-4, rtol=0)
        generated = [s["resps"] for s in _samples(lm, task_manager, task="tiny_gen", limit=4)]
        assert generated == [s["resps"] for s in _samples(base_hf, task_manager, task="tiny_gen", limit=4)]
        lm.alpha = 1.0
        generated = [s["resps"] for s in _samples(lm, task_manager, task="tiny_gen", limit=4)]
        assert generated == [s["resps"] for s in _samples(ft_hf, task_manager, task="tiny_gen", limit=4)]
        lm.alpha = 1.4
        assert not torch.allclose(_logliks(_samples(lm, task_manager)), _logliks(_samples(ft_hf, task_manager)))
    finally:
        lm.alpha, lm.mode = 1.0, "logits"
    assert all(torch.equal(before[k], v) for k, v in lm.model.state_dict().items())


def test_modes_differ_away_from_one(lm, task_manager):
    values = {}
    lm.alpha = 1.5
    try:
        for mode in ("activation", "logits", "weights"):
            lm.mode = mode
            values[mode] = _logliks(_samples(lm, task_manager, limit=4))
    finally:
        lm.alpha, lm.mode = 1.0, "logits"
    assert not torch.allclose(values["activation"], values["logits"])
    assert not torch.allclose(values["logits"], values["weights"])


@pytest.fixture(scope="module")
def fresh(pair_dirs):
    """The pair loaded anew by transformers: no hook of tuco-eval ever touched these."""
    from transformers import AutoModelForCausalLM

    return [AutoModelForCausalLM.from_pretrained(d).eval() for d in pair_dirs]


def _kl_and_rank(ft, base, ids) -> tuple[float, int]:
    """KL(p_FT || p_PT) = sum p log(p/q) at the last token in float64, two plain forwards; and the
    base rank of FT's greedy token (ties in its favour)."""
    with torch.no_grad():
        p, q = (m(ids).logits[0, -1].double().softmax(-1) for m in (ft, base))
    kl = float((p * (p.log() - q.log())).sum())
    return kl, 1 + int((q > q[p.argmax()]).sum())


def test_logged_kl_and_shift_beside_tuco(lm, task_manager, fresh):
    lm.log_tuco, lm.log_kl, lm.alpha = True, True, 1.2
    try:
        samples = _samples(lm, task_manager, limit=4)
        generated = _samples(lm, task_manager, task="tiny_gen", limit=2)
    finally:
        lm.log_tuco, lm.log_kl, lm.alpha = False, False, 1.0
    ft, base = fresh
    for sample in samples:
        for context, continuation, logged in sample["arguments"]:
            ids = torch.tensor([lm._encode_pair(context, continuation)[0]])
            kl, rank = _kl_and_rank(ft, base, ids)
            assert logged["kl"] == pytest.approx(kl, abs=1e-5)
            assert logged["base_rank"] == rank
            assert logged["shift"] == SHIFT_CLASSES[(rank > 1) + (rank > 3)]
            # logits mode logs the fine-tuned model's own TuCo (α = 1), whatever α
            _, own = naive_joint(ft, base, ids, 1.0)
            assert logged["tuco"] == pytest.approx(own.item(), abs=1e-5)
            assert logged["alpha"] == 1.2
    for sample in generated:  # generate_until: the measures at the prompt's last token
        prompt, _, logged = sample["arguments"][0]
        ids = torch.tensor([lm.tok_encode(prompt)])
        kl, rank = _kl_and_rank(ft, base, ids)
        assert logged["kl"] == pytest.approx(kl, abs=1e-5) and logged["base_rank"] == rank
        assert logged["tuco"] == pytest.approx(naive_joint(ft, base, ids, 1.0)[1].item(), abs=1e-5)


def test_logged_measures_in_weights_mode_are_those_of_the_finetuned_model(lm, task_manager):
    lm.log_kl = True
    try:
        lm.alpha = 1.0
        reference = [s["arguments"][0][-1]["kl"] for s in _samples(lm, task_manager, limit=3)]
        lm.mode, lm.alpha = "weights", 0.3
        again = [s["arguments"][0][-1]["kl"] for s in _samples(lm, task_manager, limit=3)]
    finally:
        lm.log_kl, lm.alpha, lm.mode = False, 1.0, "logits"
    assert again == pytest.approx(reference, abs=1e-6)


def test_bad_mode_is_a_clear_error(pair_dirs):
    with pytest.raises(TucoError, match="mode must be one of"):
        TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], mode="merge", device="cpu")


@pytest.fixture(scope="module")
def adapter_dir(pair_dirs, tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(pair_dirs[1]), LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False))
    folder = tmp_path_factory.mktemp("adapter") / "lora"
    peft_model.save_pretrained(folder)
    return str(folder)


def test_adapter_pair_in_logits_and_weights_modes(adapter_dir, pair_dirs, plain, task_manager):
    lm = TucoScaledLM(pretrained=adapter_dir, base=pair_dirs[1], mode="weights", device="cpu", batch_size=4)
    assert lm.base_model is None  # one copy of the base weights, the adapter on top
    adapted = HFLM(pretrained=pair_dirs[1], peft=adapter_dir, device="cpu", batch_size=4)
    want_ft = _logliks(_samples(adapted, task_manager, limit=6))
    want_base = _logliks(_samples(plain[1], task_manager, limit=6))
    for mode in ("weights", "logits"):
        lm.mode, lm.alpha = mode, 0.0
        torch.testing.assert_close(_logliks(_samples(lm, task_manager, limit=6)), want_base, atol=1e-4, rtol=0)
        lm.alpha = 1.0
        assert torch.equal(_logliks(_samples(lm, task_manager, limit=6)), want_ft)
    assert lm.scaling.weights.extra_bytes() == 0

"""The three scaling modes on tiny pairs: α identities, naive references, weight restore, LoRA."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.helpers.tiny_models import make_hybrid, make_pair
from tuco_eval.core.joint import Joint, TucoSums
from tuco_eval.core.pair import base_blocks_for
from tuco_eval.core.scaling import Scaling
from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import MODES, parse_mode, parse_modes

ARCHS = ["llama", "gpt2", "qwen2", "gpt_neox", "gemma2"]


def _ids(seed: int = 0, shape=(2, 7)) -> torch.Tensor:
    return torch.randint(3, 96, shape, generator=torch.Generator().manual_seed(seed))


def _scaling(ft, base, mode="activation"):
    return Scaling(ft, base, Joint(ft, base_blocks_for(ft, base)), mode)


def _logits(scaling, ids, alpha):
    scaling.joint.alpha = alpha
    with torch.no_grad(), scaling.active():
        return scaling.model(ids).logits


def _log_probs(logits):
    return torch.log_softmax(logits.float(), dim=-1)


@pytest.mark.parametrize("arch", ARCHS)
def test_alpha_one_is_finetuned_and_zero_is_base_in_every_mode(arch):
    ft, base = make_pair(arch)  # the pair differs outside the blocks too
    ids = _ids()
    with torch.no_grad():
        want_ft, want_base = ft(ids).logits, base(ids).logits
        want_hybrid = make_hybrid(ft, base)(ids).logits
    scaling = _scaling(ft, base)
    for mode in MODES:
        scaling.mode = mode
        assert torch.equal(_logits(scaling, ids, 1.0), want_ft), mode  # bit for bit
        at_zero = _log_probs(_logits(scaling, ids, 0.0))
        # activation: base blocks on FT's embedding, norm and head; logits, weights: the base itself
        want = want_hybrid if mode == "activation" else want_base
        torch.testing.assert_close(at_zero, _log_probs(want), atol=1e-5, rtol=0, msg=mode)
        assert not torch.allclose(_log_probs(_logits(scaling, ids, 1.5)), _log_probs(want_ft))
    scaling.mode = "activation"
    with torch.no_grad():
        assert torch.equal(ft(ids).logits, want_ft)  # nothing left behind


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("alpha", [0.5, 1.5])
def test_logits_mode_equals_naive_two_model_mix(arch, alpha):
    ft, base = make_pair(arch)
    ids = _ids(1)
    with torch.no_grad():
        naive = torch.log_softmax(
            torch.log_softmax(base(ids).logits, -1)
            + alpha * (torch.log_softmax(ft(ids).logits, -1) - torch.log_softmax(base(ids).logits, -1)),
            -1,
        )
    got = _logits(_scaling(ft, base, "logits"), ids, alpha)
    torch.testing.assert_close(_log_probs(got), naive, atol=1e-5, rtol=0)


def _naive_greedy(step_log_probs, prompt, n_new):
    """A no-cache greedy loop: the whole sequence through the models at every step."""
    ids = prompt.clone()
    for _ in range(n_new):
        ids = torch.cat([ids, step_log_probs(ids).argmax(-1, keepdim=True)], dim=1)
    return ids


@pytest.mark.parametrize("arch", ["llama", "gpt2", "gemma2"])
def test_logits_mode_cached_generation_equals_no_cache_greedy_loop(arch):
    ft, base = make_pair(arch)
    alpha, prompt = 1.7, _ids(2, (1, 5))

    def step(ids):
        with torch.no_grad():
            ft_lp = torch.log_softmax(ft(ids, use_cache=False).logits[:, -1], -1)
            base_lp = torch.log_softmax(base(ids, use_cache=False).logits[:, -1], -1)
        return base_lp + alpha * (ft_lp - base_lp)

    expected = _naive_greedy(step, prompt, 8)
    scaling = _scaling(ft, base, "logits")
    scaling.joint.alpha = alpha
    with torch.no_grad(), scaling.active():
        out = ft.generate(prompt, max_new_tokens=8, do_sample=False, min_new_tokens=8,
                          pad_token_id=0, use_cache=True)
    assert out.tolist() == expected.tolist()


def _interpolated(ft, base, alpha):
    mixed = copy.deepcopy(ft)
    base_params = dict(base.named_parameters())
    with torch.no_grad():
        for name, p in mixed.named_parameters():
            p.copy_(base_params[name] + alpha * (p - base_params[name]))
    return mixed


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_weights_mode_equals_naive_interpolation_and_restores_bit_for_bit(arch):
    ft, base = make_pair(arch)
    before = {k: v.clone() for k, v in ft.state_dict().items()}
    ids = _ids(3)
    scaling = _scaling(ft, base, "weights")
    with torch.no_grad():
        want = _interpolated(ft, base, 1.3)(ids).logits
    torch.testing.assert_close(_logits(scaling, ids, 1.3), want, atol=1e-5, rtol=1e-5)
    _logits(scaling, ids, 0.4)  # re-mixed from the saved θ_FT, not from the 1.3 mix
    torch.testing.assert_close(
        _logits(scaling, ids, 1.3), want, atol=1e-5, rtol=1e-5
    )
    # delta-sized: only the parameters that differ (the blocks) are kept, once
    held = scaling.weights.extra_bytes()
    block_bytes = sum(p.numel() * p.element_size() for n, p in ft.named_parameters()
                      if not torch.equal(p, dict(base.named_parameters())[n]))
    model_bytes = sum(p.numel() * p.element_size() for p in ft.parameters())
    assert held == block_bytes < model_bytes
    _logits(scaling, ids, 1.0)  # α back to 1: θ_FT restored
    assert all(torch.equal(before[k], v) for k, v in ft.state_dict().items())
    _logits(scaling, ids, 0.7)
    scaling.mode = "activation"  # leaving the mode restores and frees the copy
    assert all(torch.equal(before[k], v) for k, v in ft.state_dict().items())
    assert scaling.weights.extra_bytes() == 0


def test_weights_mode_mixes_lazily_once_per_alpha():
    ft, base = make_pair("llama")
    scaling = _scaling(ft, base, "weights")
    calls = []
    original = scaling.weights.set

    def counted(alpha):
        if alpha != scaling.weights.alpha:
            calls.append(alpha)
        return original(alpha)

    scaling.weights.set = counted
    ids = _ids()
    for alpha in (1.2, 1.2, 1.2, 0.8, 0.8):
        _logits(scaling, ids, alpha)
    assert calls == [1.2, 0.8]


def _lora_pair():
    from peft import LoraConfig, get_peft_model

    _, base = make_pair("llama")
    peft_model = get_peft_model(copy.deepcopy(base), LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False))
    return peft_model.eval(), base


def test_lora_weights_mode_scales_the_adapter_and_equals_merged_interpolation():
    peft_model, base = _lora_pair()
    ids = _ids(4)
    with torch.no_grad():
        want_ft = peft_model(ids).logits
        merged = copy.deepcopy(peft_model).merge_and_unload()
        want = _interpolated(merged, base, 1.4)(ids).logits
    scaling = Scaling(peft_model, None, Joint(peft_model, base_blocks_for(peft_model, None)), "weights")
    torch.testing.assert_close(_logits(scaling, ids, 1.4), want, atol=1e-4, rtol=1e-4)
    assert scaling.weights.extra_bytes() == 0
    with torch.no_grad():
        torch.testing.assert_close(_log_probs(_logits(scaling, ids, 0.0)), _log_probs(base(ids).logits),
                                   atol=1e-5, rtol=0)
    assert torch.equal(_logits(scaling, ids, 1.0), want_ft)


def test_lora_logits_mode_uses_the_adapter_off_as_base():
    peft_model, base = _lora_pair()
    ids = _ids(5)
    scaling = Scaling(peft_model, None, Joint(peft_model, base_blocks_for(peft_model, None)), "logits")
    with torch.no_grad():
        ft_lp, base_lp = _log_probs(peft_model(ids).logits), _log_probs(base(ids).logits)
    got = _log_probs(_logits(scaling, ids, 0.6))
    torch.testing.assert_close(got, torch.log_softmax(base_lp + 0.6 * (ft_lp - base_lp), -1),
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_a_call_borrows_no_alpha_even_when_it_fails(mode):
    # the pair's α reads the same during a call (the joint at 1 in logits and weights modes) and after
    # one that raised; calls at their own α and at the pair's then interleave, each at its α
    ft, base = make_pair("llama")
    scaling, ids = _scaling(ft, base, mode), _ids(6)
    want = {alpha: _logits(scaling, ids, alpha) for alpha in (0.5, 1.5)}
    seen = []

    def fail(module, args, output):
        seen.append(scaling.joint.alpha)
        raise RuntimeError("mid-pass")

    handle = ft.register_forward_hook(fail)
    with pytest.raises(RuntimeError, match="mid-pass"), torch.no_grad(), scaling.active(TucoSums()):
        ft(ids)
    handle.remove()
    assert seen == [1.5] and scaling.joint.alpha == 1.5
    for alpha in (0.5, None, 0.5, None):
        with torch.no_grad(), scaling.active(alpha=alpha):
            assert torch.equal(ft(ids).logits, want[alpha or 1.5]), alpha


def test_mode_names_are_checked():
    assert parse_mode(" Logits ") == "logits"
    assert parse_modes("activation,weights") == ["activation", "weights"]
    with pytest.raises(TucoError, match="mode must be one of activation, logits, weights"):
        parse_mode("merge")
    with pytest.raises(TucoError, match="repeats"):
        parse_modes("logits,logits")

"""The joint pass on every supported architecture, against an independent naive layer loop."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.helpers.naive import naive_joint
from tests.helpers.precision import stream_tolerance, tuco_tolerance
from tests.helpers.tiny_models import ARCHITECTURES, make_hybrid, make_model, make_pair
from tuco_eval.core.joint import Joint, TucoSums
from tuco_eval.core.layers import find_blocks
from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import parse_alpha

ARCHS = sorted(ARCHITECTURES)


def _ids(batch: int = 2, length: int = 11, seed: int = 0) -> torch.Tensor:
    return torch.randint(3, 90, (batch, length), generator=torch.Generator().manual_seed(seed))


def _joint(ft, base, alpha=1.0) -> Joint:
    return Joint(ft, [block.forward for block in find_blocks(base)], alpha=alpha)


def _last_block_output(ft, joint, ids, sums=None):
    """The residual stream after the last block, as the joint pass leaves it."""
    seen = {}
    with torch.no_grad(), joint.active(sums):
        handle = find_blocks(ft)[-1].register_forward_hook(
            lambda m, a, o: seen.setdefault("x", o[0] if isinstance(o, tuple) else o))
        try:
            logits = ft(ids, use_cache=False).logits
        finally:
            handle.remove()
    return seen["x"], logits


@pytest.mark.parametrize("arch", ARCHS)
def test_alpha_one_is_the_finetuned_model(arch):
    ft, base = make_pair(arch)
    ids = _ids()
    with torch.no_grad():
        expected = ft(ids).logits
        with _joint(ft, base, 1.0).active(TucoSums()):  # base blocks run, output must not move
            got = ft(ids).logits
    assert (got - expected).abs().max() < 1e-5


@pytest.mark.parametrize("arch", ARCHS)
def test_alpha_zero_is_base_blocks_on_the_finetuned_embedding_and_head(arch):
    ft, base = make_pair(arch)  # the pair differs outside the blocks too
    ids = _ids()
    with torch.no_grad():
        expected = make_hybrid(ft, base)(ids).logits
        with _joint(ft, base, 0.0).active():
            got = ft(ids).logits
        assert (got - base(ids).logits).abs().max() > 1e-3  # not the base's embedding and head
    assert (got - expected).abs().max() < 1e-5


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("alpha", [0.5, 1.25, 2.0])
def test_scaled_stream_equals_naive_loop(arch, alpha):
    ft, base = make_pair(arch)
    ids = _ids()
    expected, _ = naive_joint(ft, base, ids, alpha)
    got, _ = _last_block_output(ft, _joint(ft, base, alpha), ids)
    assert (got - expected).abs().max() < 1e-4 * max(1.0, expected.abs().max().item())


def test_scaled_logits_equal_naive_loop_llama():
    ft, base = make_pair("llama")
    ids = _ids()
    for alpha in (0.5, 1.25, 2.0):
        x, _ = naive_joint(ft, base, ids, alpha)
        with torch.no_grad():
            expected = ft.lm_head(ft.model.norm(x))
        _, got = _last_block_output(ft, _joint(ft, base, alpha), ids)
        assert (got - expected).abs().max() < 1e-5


@pytest.mark.parametrize("arch", ARCHS)
def test_tuco_equals_naive_loop(arch):
    ft, base = make_pair(arch)
    ids = _ids()
    _, expected = naive_joint(ft, base, ids, 1.0)
    sums = TucoSums(positions=torch.full((ids.shape[0],), ids.shape[1] - 1))
    _last_block_output(ft, _joint(ft, base, 1.0), ids, sums)
    got = sums.tuco()
    assert torch.allclose(got.double(), expected, atol=1e-5)
    assert ((got > 0) & (got < 1)).all()
    ptc, ftc = sums.per_layer()
    assert ptc.shape == ftc.shape == (len(find_blocks(ft)), ids.shape[0])


def test_tuco_is_zero_for_a_copy():
    base = make_model("llama")
    ft = copy.deepcopy(base)
    ids = _ids()
    sums = TucoSums(positions=torch.full((2,), ids.shape[1] - 1))
    _last_block_output(ft, _joint(ft, base), ids, sums)
    assert torch.equal(sums.tuco(), torch.zeros(2))


def test_all_positions_tracked_without_positions():
    ft, base = make_pair("llama")
    ids = _ids()
    sums = TucoSums()
    _last_block_output(ft, _joint(ft, base), ids, sums)
    _, expected = naive_joint(ft, base, ids, 1.0)
    assert sums.tuco().shape == ids.shape
    assert torch.allclose(sums.tuco()[:, -1].double(), expected, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_cached_generation_equals_greedy_loop(arch):
    ft, base = make_pair(arch)
    joint = _joint(ft, base, 1.25)
    ft.generation_config.eos_token_id = None  # always 8 new tokens
    prompt = _ids(batch=1, length=7)
    with torch.no_grad(), joint.active():
        cached = ft.generate(prompt, max_new_tokens=8, do_sample=False, use_cache=True,
                             pad_token_id=0)[0, prompt.shape[1]:]
        tokens = prompt
        for _ in range(8):  # the reference: full recomputation, no cache anywhere
            next_token = ft(tokens, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
            tokens = torch.cat([tokens, next_token], dim=1)
    assert cached.tolist() == tokens[0, prompt.shape[1]:].tolist()


def test_alpha_changes_take_effect_in_place():
    ft, base = make_pair("llama")
    joint, ids = _joint(ft, base), _ids()
    outputs = []
    for alpha in (0.5, 1.5, 0.5):
        joint.alpha = alpha
        with torch.no_grad(), joint.active():
            outputs.append(ft(ids).logits)
    assert not torch.allclose(outputs[0], outputs[1])
    assert torch.equal(outputs[0], outputs[2])


def test_a_pass_at_its_own_alpha_leaves_the_joint_alpha_alone():
    # α is passed to the pass, not borrowed: the joint's own α reads the same during and after it
    ft, base = make_pair("llama")
    joint, ids = _joint(ft, base, 1.5), _ids()
    want = {alpha: _last_block_output(ft, _joint(ft, base, alpha), ids)[1] for alpha in (1.5, 0.5)}
    seen, got = [], []
    handle = ft.register_forward_hook(lambda m, a, o: seen.append(joint.alpha))
    for alpha in (0.5, None, 0.5):
        with torch.no_grad(), joint.active(alpha=alpha):
            got.append(ft(ids).logits)
    handle.remove()
    assert seen == [1.5, 1.5, 1.5]
    assert [torch.equal(g, want[a or 1.5]) for g, a in zip(got, (0.5, None, 0.5), strict=True)] == [True] * 3


def test_hooks_are_removed_after_use():
    ft, base = make_pair("llama")
    with torch.no_grad(), _joint(ft, base, 0.0).active():
        pass
    assert all(not b._forward_hooks and not b._forward_pre_hooks for b in find_blocks(ft))


@pytest.mark.parametrize("bad", ["abc", float("nan"), float("inf"), "-inf", None, True])
def test_bad_alpha_is_refused(bad):
    with pytest.raises(TucoError, match="alpha"):
        parse_alpha(bad)


def test_alpha_from_lm_eval_int_and_string():
    assert parse_alpha(1) == 1.0 and parse_alpha("1.1") == 1.1 and parse_alpha(-0.5) == -0.5


def test_unknown_architecture_names_the_class():
    class Opaque(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stack = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.ReLU()])

    with pytest.raises(TucoError, match="Opaque"):
        find_blocks(Opaque())


@pytest.mark.parametrize("arch", ARCHS)
def test_bfloat16_joint_pass_is_within_its_rounding_of_float64(arch):
    ft16, base16 = (m.to(torch.bfloat16) for m in make_pair(arch))
    # the reference: the naive loop on the same (bfloat16-rounded) weights, in float64
    ft64, base64 = (copy.deepcopy(m).double() for m in (ft16, base16))
    ids, blocks = _ids(), len(find_blocks(ft16))
    for alpha in (1.0, 1.25):
        expected, expected_tuco = naive_joint(ft64, base64, ids, alpha)
        sums = TucoSums(positions=torch.full((2,), ids.shape[1] - 1))
        got, _ = _last_block_output(ft16, _joint(ft16, base16, alpha), ids, sums)
        assert sums.ptc.dtype == sums.ftc.dtype == torch.float32
        stream_error = (got.double() - expected).abs().max() / expected.abs().max()
        assert stream_error <= stream_tolerance(torch.bfloat16, blocks), alpha
        assert (sums.tuco().double() - expected_tuco).abs().max() <= tuco_tolerance(torch.bfloat16, blocks)

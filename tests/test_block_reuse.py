"""Blocks below every adapter computed once per input: the same logits and TuCo, bit for bit, as the
pass that computes them each time; recomputed when a cache is filled, weights change or a block
holds an adapter layer."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.helpers.peft_models import IDS, load_base, lora_model
from tuco_eval.core.block_reuse import leading_blocks, reuse_block_outputs
from tuco_eval.core.joint import TucoSums
from tuco_eval.core.layers import find_blocks
from tuco_eval.core.pair import join


def _pass(model, alpha, tuco=False):
    """Logits (and TuCo) of the joint pass at `alpha`, as tuco_scaled scores: no KV cache."""
    joint = join(model, None, alpha)
    sums = TucoSums() if tuco else None
    with torch.no_grad(), joint.active(sums):
        logits = model(IDS, use_cache=False).logits
    return logits, (sums.tuco() if tuco else None)


def _upper_lora(base, seed):
    return lora_model(base, seed=seed, target_modules=["q_proj", "v_proj", "down_proj"], layers_to_transform=[2])


def test_reused_lower_blocks_give_the_same_logits_and_tuco_at_every_alpha_and_checkpoint(pair_dirs):
    base = load_base(pair_dirs)
    first, second = _upper_lora(copy.deepcopy(base), 3), _upper_lora(copy.deepcopy(base), 4)
    grid = [(model, alpha, alpha == 1.0) for model in (first, second) for alpha in (0.0, 0.75, 1.0, 1.25)]
    want = [_pass(model, alpha, tuco) for model, alpha, tuco in grid]  # every block computed each time
    assert not torch.equal(want[0][0], want[1][0])  # α matters
    assert not torch.equal(want[2][1], want[6][1])  # so does the checkpoint
    lower = [find_blocks(first)[:2], find_blocks(second)[:2]]
    with reuse_block_outputs(lower[0]) as one, reuse_block_outputs(lower[1]) as other:
        got = [_pass(model, alpha, tuco) for model, alpha, tuco in grid]
    for (logits, tuco), (want_logits, want_tuco) in zip(got, want, strict=True):
        assert torch.equal(logits, want_logits)
        assert tuco is None or torch.equal(tuco, want_tuco)
    for stores in (one, other):  # each lower block computed once, then handed back 3 times
        assert [(s.misses, s.hits) for s in stores] == [(1, 3), (1, 3)]
    assert "forward" not in vars(find_blocks(first)[0])  # the blocks' own forward is back


def test_blocks_are_recomputed_after_their_weights_change_in_place(pair_dirs):
    model = _upper_lora(load_base(pair_dirs), 3)
    block = find_blocks(model)[0]
    with reuse_block_outputs([block]) as (store,):
        before, _ = _pass(model, 0.5)
        with torch.no_grad():
            block.mlp.down_proj.weight.mul_(1.5)
        after, _ = _pass(model, 0.5)
    assert (store.misses, store.hits) == (2, 0)
    assert torch.equal(after, _pass(model, 0.5)[0]) and not torch.equal(after, before)


def test_a_cache_being_filled_or_an_adapter_layer_means_computing(pair_dirs):
    model = _upper_lora(load_base(pair_dirs), 3)
    blocks = find_blocks(model)
    joint = join(model, None, 0.5)
    with torch.no_grad(), joint.active():
        want = model.generate(IDS[:1], max_new_tokens=3, do_sample=False)
    with reuse_block_outputs(blocks[:1]) as (lower,), reuse_block_outputs(blocks[2:]) as (adapted,):
        for _ in range(2):
            with torch.no_grad(), joint.active():
                assert torch.equal(model.generate(IDS[:1], max_new_tokens=3, do_sample=False), want)
            _pass(model, 0.5)
    assert (lower.misses, lower.hits) == (1, 1)  # only the cache-free scoring pass is reused
    assert (adapted.misses, adapted.hits) == (0, 0)  # a block with a LoRA layer is never reused


@pytest.mark.parametrize(("configs", "count"), [
    ([{"layers_to_transform": [20, 21, 29]}, {"layers_to_transform": [24]}], 20),
    ([{"layers_to_transform": 3}], 3),
    ([{"layers_to_transform": [20]}, {"layers_to_transform": None}], 0),  # one adapter on every layer
    ([{"layers_to_transform": [5], "layers_pattern": "h"}], 0),
    ([], 0),
])
def test_leading_blocks_stop_below_the_first_transformed_layer(configs, count):
    blocks = list(range(30))
    assert leading_blocks(blocks, configs) == blocks[:count]

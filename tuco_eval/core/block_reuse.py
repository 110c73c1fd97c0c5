"""Leading blocks computed once per input: an adapter on the upper blocks leaves the lower ones alone.

A LoRA adapter with `layers_to_transform` (the demo's: blocks 20-29 of 30) changes nothing below its
first layer, so the residual stream entering that layer is the same at every α, for every checkpoint
of a training run and for the base. `reuse_block_outputs` remembers each lower block's output per
distinct input and hands it back (a copy) when the same input comes again: a sweep then computes
those blocks once per batch instead of once per (α, checkpoint). The answer is the block's own
output, bit for bit, so every hook around the block (the joint pass, TuCo sums) sees what it saw.

A block is computed normally whenever a KV cache is passed (it must fill it), it holds a peft layer
(an adapter would make its output depend on which one is active), or its weights changed in place
(their version counters are part of the key).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from tuco_eval.core.adapter_off import switches
from tuco_eval.core.shared_cache import find_cache


def _digest(value: Any, into: Any) -> None:
    """Feed a call argument into the hash: tensors by dtype, shape and bytes; the rest by repr."""
    if isinstance(value, Tensor):
        data = value.detach().cpu().contiguous()
        into.update(f"{data.dtype}{tuple(data.shape)}".encode())
        into.update(data.view(-1).view(torch.uint8).numpy())  # the buffer itself, not a copy
    elif isinstance(value, (tuple, list)):
        into.update(b"(")
        for item in value:
            _digest(item, into)
        into.update(b")")
    else:
        into.update(repr(value).encode())


def _key(block: nn.Module, args: tuple, kwargs: dict) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    for param in block.parameters():  # the same tensors, not changed in place since
        digest.update(f"{param.data_ptr()}:{param._version};".encode())
    for value in args:
        _digest(value, digest)
    for name in sorted(kwargs):
        digest.update(name.encode())
        _digest(kwargs[name], digest)
    return digest.digest()


def _copy(output: Any) -> Any:
    """A fresh copy: whoever receives the output may change it in place, the stored one stays."""
    if isinstance(output, Tensor):
        return output.clone()
    if type(output) is tuple:
        return tuple(_copy(item) for item in output)
    return output


class BlockOutputs:
    """The stored outputs of one block, keyed by everything its output depends on; counts hits."""

    def __init__(self, block: nn.Module):
        self.block, self.forward = block, block.forward
        self.outputs: dict[bytes, Any] = {}
        self.hits = self.misses = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if find_cache(args, kwargs) is not None or switches(self.block):
            return self.forward(*args, **kwargs)
        key = _key(self.block, args, kwargs)
        if key in self.outputs:
            self.hits += 1
            return _copy(self.outputs[key])
        self.misses += 1
        output = self.forward(*args, **kwargs)
        self.outputs[key] = _copy(output)
        return output


@contextmanager
def reuse_block_outputs(blocks: Sequence[nn.Module]) -> Iterator[list[BlockOutputs]]:
    """Within the block, each of `blocks` computes its output once per distinct input (see above).

    Meant for the blocks below every adapter of a run; memory: one output per distinct input and
    block, freed on exit."""
    stores = [BlockOutputs(block) for block in blocks]
    own = [block.__dict__.get("forward") for block in blocks]  # e.g. accelerate's wrapper
    for block, store in zip(blocks, stores, strict=True):
        block.forward = store  # an instance attribute: nn.Module.__call__ (and its hooks) call it
    try:
        yield stores
    finally:
        for block, forward in zip(blocks, own, strict=True):
            if forward is None:
                del block.forward
            else:
                block.forward = forward


def leading_blocks(blocks: Sequence[nn.Module], adapter_configs: Sequence[dict]) -> list[nn.Module]:
    """The blocks below the first layer any of the LoRA `adapter_configs` transforms (none when one
    of them transforms every layer or names its layers by a pattern this does not read)."""
    firsts = []
    for config in adapter_configs:
        layers = config.get("layers_to_transform")
        if config.get("layers_pattern") or config.get("layer_replication") or not layers:
            return []
        firsts.append(min([layers] if isinstance(layers, int) else layers))
    return list(blocks[: min(firsts)]) if firsts else []

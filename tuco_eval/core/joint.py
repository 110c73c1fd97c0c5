"""The joint forward pass: hooks on the fine-tuned blocks run the base blocks on one residual stream.

For block l with input x_l, both blocks see the same x_l and the same keyword arguments (masks,
positions, rotary tables) that the fine-tuned model computed:

    PTC_l = f_PT(x_l),  FTC_l = f_FT(x_l) - f_PT(x_l),  x_{l+1} = x_l + PTC_l + alpha * FTC_l

with f(x) = block(x) - x. The hook returns lerp(base_out, ft_out, alpha), which is that sum.
The base blocks keep their keys and values in extra layers of the fine-tuned model's own cache
(tuco_eval.core.shared_cache), so whatever `generate` does to that cache happens to theirs too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from transformers.cache_utils import Cache

from tuco_eval.core.layers import find_blocks
from tuco_eval.core.positions import BasePositions
from tuco_eval.core.shared_cache import SharedCache, find_cache
from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import parse_alpha

BlockFn = Callable[..., Any]  # a base block's forward: same call signature as the fine-tuned block


class NonFiniteError(TucoError):
    """NaN or inf in logits or TuCo: reported with α and the first block where it appeared."""


def nonfinite_error(joint: Joint, what: str, where: str | None = None, *,
                    alpha: float | None = None) -> NonFiniteError:
    """The one line: α (the pass's, where it ran at its own; else the joint's), and `where` the value
    first appeared (else the joint's own block flags)."""
    alpha = joint.alpha if alpha is None else alpha
    block = joint.first_nonfinite_block()
    where = where or (
        f"first in the output of block {block} of {len(joint.blocks)}"
        if block is not None
        else "in the fine-tuned model's own pass"
        if not joint.needs_base(None, alpha)
        else "after the last block"
    )
    return NonFiniteError(
        f"non-finite {what} at α={alpha} ({where}); not averaged into any result: "
        f"use dtype=float32 or a smaller α, or check the weights"
    )


def _first(output: Any) -> Tensor:
    return output[0] if isinstance(output, tuple) else output


def _replace_first(output: Any, hidden: Tensor) -> Any:
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


def _block_input(args: tuple, kwargs: dict) -> Tensor:
    return args[0] if args else kwargs["hidden_states"]


@dataclass
class TucoSums:
    """Float32 running sums of PTC and FTC over blocks, at tracked token positions.

    `positions` ([batch] indices) tracks one token per row, as `score` does; None tracks every
    position (shape [batch, seq, ...]), as the lm-eval path does when it logs TuCo.
    """

    positions: Tensor | None = None
    ptc: Tensor | None = None  # Σ_l PTC_l: [B, H] or [B, T, H]
    ftc: Tensor | None = None  # Σ_l FTC_l
    ptc_per_layer: list[Tensor] = field(default_factory=list)  # ‖PTC_l‖₁: [B] or [B, T]
    ftc_per_layer: list[Tensor] = field(default_factory=list)

    def _at_positions(self, h: Tensor) -> Tensor:
        if self.positions is None:
            return h.float()
        rows = torch.arange(h.shape[0], device=h.device)
        return h[rows, self.positions.to(h.device)].float()

    def add(self, x: Tensor, base_out: Tensor, ft_out: Tensor) -> None:
        x, base, ft = (self._at_positions(t.to(ft_out.device)) for t in (x, base_out, ft_out))
        ptc, ftc = base - x, ft - base
        self.ptc = ptc if self.ptc is None else self.ptc.to(ptc.device) + ptc
        self.ftc = ftc if self.ftc is None else self.ftc.to(ftc.device) + ftc
        self.ptc_per_layer.append(ptc.abs().sum(-1))
        self.ftc_per_layer.append(ftc.abs().sum(-1))

    def l1(self) -> tuple[Tensor, Tensor]:
        """(‖Σ PTC‖₁, ‖Σ FTC‖₁) per tracked token."""
        if self.ptc is None or self.ftc is None:
            raise RuntimeError("no block contributed to these sums: was the joint forward run?")
        return self.ptc.abs().sum(-1), self.ftc.abs().sum(-1)

    def tuco(self) -> Tensor:
        """TuCo = ‖Σ FTC‖₁ / (‖Σ PTC‖₁ + ‖Σ FTC‖₁) per tracked token (0 where both are 0)."""
        ptc, ftc = self.l1()
        total = ptc + ftc
        return torch.where(
            total == 0, 0.0, ftc / total.clamp_min(torch.finfo(total.dtype).tiny)
        )  # NaN stays NaN

    def per_layer(self) -> tuple[Tensor, Tensor]:
        """Per-block ‖PTC_l‖₁ and ‖FTC_l‖₁, stacked: [layers, B] (or [layers, B, T])."""
        device = self.ptc_per_layer[-1].device
        return (
            torch.stack([t.to(device) for t in self.ptc_per_layer]),
            torch.stack([t.to(device) for t in self.ftc_per_layer]),
        )


class Joint:
    """Scales the fine-tuning contribution of `model` by `alpha`, block by block.

    `base_blocks[l]` computes the pre-trained block l with the fine-tuned block's call signature.
    `alpha` is the pair's α, a plain attribute only its user sets (between calls, nothing is
    reloaded); a pass at another α (TuCo at 1, a mode that scales by itself) names it to `active`
    and leaves `alpha` alone. `positions`, given where the two configs differ above the blocks,
    supplies the base blocks' own positions and masks.
    """

    def __init__(self, model: nn.Module, base_blocks: Sequence[BlockFn], alpha: float = 1.0,
                 positions: BasePositions | None = None, same_blocks: frozenset[int] = frozenset()):
        self.model = model
        self.blocks = find_blocks(model)
        if len(base_blocks) != len(self.blocks):
            raise TucoError(
                f"the base has {len(base_blocks)} blocks, the fine-tuned model {len(self.blocks)}"
            )
        self.base_blocks = list(base_blocks)
        self.alpha = parse_alpha(alpha)
        self.positions = positions
        # blocks whose base is the fine-tuned block itself (an adapter that skips them): run once
        self.same_blocks = frozenset(same_blocks) if positions is None else frozenset()
        # the base blocks' layers in the fine-tuned cache, from the base's config where it differs
        self._twin = SharedCache(len(self.blocks), "joint", base_layers=self._base_cache_layers)
        self._nonfinite: list[Tensor | None] = [None] * len(self.blocks)  # per block, on its device
        # asked at each pass: new (base_blocks, same_blocks) once a PEFT model's adapters changed, else None
        self.refresh: Callable[[], tuple[Sequence[BlockFn], frozenset[int]] | None] | None = None

    def any_nonfinite(self) -> bool:
        """Whether any block output held NaN/inf since the hooks were installed (one sync)."""
        flags = [flag for flag in self._nonfinite if flag is not None]
        return bool(flags) and bool(torch.stack([f.to(flags[0].device) for f in flags]).any())

    def first_nonfinite_block(self) -> int | None:
        """The first block whose scaled output held NaN/inf since the hooks were last installed."""
        for index, flag in enumerate(self._nonfinite):
            if flag is not None and bool(flag):
                return index
        return None

    @staticmethod
    def needs_base(sums: TucoSums | None, alpha: float) -> bool:
        """At α = 1 with no TuCo asked, the fine-tuned model alone is the answer, bit for bit."""
        return sums is not None or alpha != 1.0

    @contextmanager
    def active(self, sums: TucoSums | None = None, alpha: float | None = None) -> Iterator[None]:
        """Hooks installed for the duration of the block, at `alpha` (None: the joint's own α);
        TuCo sums accumulate into `sums`. The α is the call's: nothing to restore after it."""
        alpha = self.alpha if alpha is None else parse_alpha(alpha)
        self._nonfinite = [None] * len(self.blocks)  # flags belong to this pass only
        found = self.refresh() if self.refresh is not None else None
        if found is not None:  # never the adapter-off switches of an adapter set that is gone
            self.base_blocks, self.same_blocks = list(found[0]), frozenset(found[1])
        if not self.needs_base(sums, alpha):
            yield
            return
        # block 0 sees each new cache before anything is written to it
        track = lambda module, args, kwargs: self._twin.track(args, kwargs)  # noqa: E731
        handles = [self.blocks[0].register_forward_pre_hook(track, with_kwargs=True)]
        if self.positions is not None:  # after `track`: block 0 then knows the base's cache
            handles += self.positions.install(self.blocks[0], lambda a, k: find_cache(*self._twin.swap(a, k)))
        for index, block in enumerate(self.blocks):
            handles.append(
                block.register_forward_hook(self._make_hook(index, sums, alpha), with_kwargs=True)
            )
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
            self._twin.reset()

    def _base_cache_layers(self, cache: Cache) -> list | None:
        return None if self.positions is None else self.positions.cache_layers(cache)

    def check_finite(self, what: str) -> None:
        """Raise the one-line NonFiniteError if a block output held NaN/inf in the last `active` block."""
        if self.any_nonfinite():
            raise nonfinite_error(self, what)

    def _make_hook(self, index: int, sums: TucoSums | None, alpha: float) -> Callable:
        base_block = self.base_blocks[index]

        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
            ft_out = _first(output)
            if index in self.same_blocks and find_cache(args, kwargs) is None:
                base_out = ft_out  # what the base block gives, bit for bit (a cache still needs it run)
            else:
                base_args, base_kwargs = self._twin.swap(args, kwargs)
                if self.positions is not None:
                    base_args, base_kwargs = self.positions.for_block(index, base_args, base_kwargs)
                base_out = _first(base_block(*base_args, **base_kwargs))
            if sums is not None:
                sums.add(_block_input(args, kwargs), base_out, ft_out)
            mixed = ft_out if alpha == 1.0 else torch.lerp(base_out, ft_out, alpha)
            # a flag on the device, no sync: read only when a result comes out non-finite
            bad = ~(torch.isfinite(mixed).all() & torch.isfinite(base_out).all())
            previous = self._nonfinite[index]
            self._nonfinite[index] = bad if previous is None else previous | bad
            if alpha == 1.0:
                return None  # exactly the fine-tuned output
            return _replace_first(output, mixed)

        return hook

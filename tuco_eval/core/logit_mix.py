"""Scaling in logit space (proxy-tuning / emulated fine-tuning): one pass of each model per step.

    ℓ = log_softmax(ℓ_PT + α (ℓ_FT − ℓ_PT)),   ℓ_X = log_softmax(logits_X)

A forward hook on the fine-tuned model runs the base on the same arguments and replaces the
output logits with ℓ, so `model(...)` (log-likelihoods) and `model.generate(...)` (any decoding
strategy, processors applied after the mix) both see the combined distribution. The base writes
to extra layers of the fine-tuned model's own cache (tuco_eval.core.shared_cache), so beam search,
assisted decoding and every other cache operation of `generate` reach both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from tuco_eval.core.layers import find_blocks, unwrap
from tuco_eval.core.positions import GenerateMasks
from tuco_eval.core.shared_cache import LayerFactory, SharedCache


def mix_log_probs(ft_logits: Tensor, base_logits: Tensor, alpha: float) -> Tensor:
    """log_softmax(ℓ_PT + α(ℓ_FT − ℓ_PT)) in float32; α = 0 and α = 1 give ℓ_PT and ℓ_FT exactly."""
    ft = torch.log_softmax(ft_logits.float(), dim=-1)
    base = torch.log_softmax(base_logits.float(), dim=-1).to(ft.device)
    # lerp is exact at both ends; the outer log_softmax renormalises α outside [0, 1]
    return torch.log_softmax(torch.lerp(base, ft, alpha), dim=-1)


class LogitMix:
    """Hooks that turn the fine-tuned model's logits into the α-mix with the base's."""

    def __init__(self, model: nn.Module, base_forward: Callable[..., Any], base_layers: LayerFactory | None = None,
                 own_masks: bool = False):
        self.target = unwrap(model)  # the transformers model whose output carries `.logits`
        self.base_forward = base_forward
        # the base's layers in FT's cache; `base_layers` builds them from the base's config where it differs
        self._twin = SharedCache(len(find_blocks(model)), "logits", base_layers)
        # where the two models' windows or layer types differ, the base builds its masks from the 2-D one
        self._masks = GenerateMasks(model) if own_masks else None

    @contextmanager
    def active(
        self, alpha: float, during_finetuned: Callable[[], AbstractContextManager] | None = None
    ) -> Iterator[None]:
        """Mix at `alpha` for the block; `during_finetuned()` is entered only around the FT pass.

        At α = 1 the base is skipped: the fine-tuned logits are the answer, bit for bit.
        """
        if alpha == 1.0:
            with during_finetuned() if during_finetuned else ExitStack():
                yield
            return
        stack = ExitStack()

        def before(module: nn.Module, args: tuple, kwargs: dict) -> None:
            self._twin.track(args, kwargs)
            if during_finetuned is not None:
                stack.enter_context(during_finetuned())

        def after(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
            stack.close()  # e.g. TuCo hooks: they must not see the base pass of a PEFT pair
            base_args, base_kwargs = self._twin.swap(args, kwargs)
            if self._masks is not None and "attention_mask" in base_kwargs:
                base_kwargs["attention_mask"] = self._masks.padding_mask(base_kwargs["attention_mask"])
            base_logits = self.base_forward(*base_args, **base_kwargs).logits
            output.logits = mix_log_probs(output.logits, base_logits, alpha)
            return output

        handles = [
            *(self._masks.install() if self._masks is not None else []),
            self.target.register_forward_pre_hook(before, with_kwargs=True),
            self.target.register_forward_hook(after, with_kwargs=True),
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
            stack.close()
            self._twin.reset()

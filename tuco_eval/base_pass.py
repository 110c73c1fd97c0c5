"""The pre-trained model's forward for either kind of pair: a loaded base, or a PEFT adapter off."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from tuco_eval.layers import unwrap
from tuco_eval.tuco import last_token_positions, position_ids_from_mask


@contextmanager
def adapters_off(model: nn.Module) -> Iterator[None]:
    """Switch every PEFT tuner layer of `model` off for the block (a no-op without PEFT)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    tuners = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
    previous = [m._disable_adapters for m in tuners]
    for m in tuners:
        m._disable_adapters = True  # read by each tuner's forward; cheaper than disable_adapter()
    try:
        yield
    finally:
        for m, was in zip(tuners, previous, strict=True):
            m._disable_adapters = was


def base_forward(finetuned: nn.Module, base: nn.Module | None) -> Callable[..., Any]:
    """A callable with the fine-tuned model's call signature that computes the base model.

    With `base=None` (PEFT pair) it is the fine-tuned modules with the adapter off, called through
    `.forward` so that hooks on the fine-tuned model never fire for the base pass.
    """
    if base is not None:
        return unwrap(base).forward
    inner = unwrap(finetuned)

    def forward(*args: Any, **kwargs: Any) -> Any:
        with adapters_off(inner):
            return inner.forward(*args, **kwargs)

    return forward


def last_logits(forward: Callable[..., Any], input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """Logits [B, V] at each row's last real token, positions counted without padding."""
    positions = last_token_positions(attention_mask)
    logits = forward(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        use_cache=False,
    ).logits
    rows = torch.arange(logits.shape[0], device=logits.device)
    return logits[rows, positions.to(logits.device)]

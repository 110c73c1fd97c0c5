"""The pre-trained model's forward for either kind of pair: a loaded base, or a PEFT adapter off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from tuco_eval.core.adapter_off import AdaptersOff, check_switchable
from tuco_eval.core.batching import last_token_positions, position_ids_from_mask
from tuco_eval.core.layers import unwrap


def base_forward(finetuned: nn.Module, base: nn.Module | None) -> Callable[..., Any]:
    """A callable with the fine-tuned model's call signature that computes the base model.

    With `base=None` (PEFT pair) it is the fine-tuned modules with every adapter off
    (tuco_eval.core.adapter_off), called through `.forward` so that hooks on the fine-tuned model never
    fire for the base pass.
    """
    if base is not None:
        return unwrap(base).forward
    check_switchable(finetuned)
    inner = unwrap(finetuned)

    def forward(*args: Any, **kwargs: Any) -> Any:
        with AdaptersOff(inner):  # found per call (once per model forward): never stale
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

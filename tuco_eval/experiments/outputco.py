"""OutputCo, the paper's baseline: how far fine-tuning moves the final residual stream.

OutputCo = ‖x_L^FT − x_L^PT‖₁ / (‖x_L^PT‖₁ + ‖x_L^FT − x_L^PT‖₁) at a prompt's last real token,
where x_L is the last block's output (before the final norm) of two separate forward passes: the
fine-tuned model, and the base (for a PEFT pair, the same model with its adapter disabled).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from tuco_eval.core.adapter_off import AdaptersOff, check_switchable
from tuco_eval.core.batching import (
    encode_prompts,
    last_token_positions,
    model_max_length,
    pad_batch,
    position_ids_from_mask,
)
from tuco_eval.core.layers import find_blocks, takes_logits_to_keep
from tuco_eval.core.pair import Pair


def outputco_from(ft_last: Tensor, base_last: Tensor) -> Tensor:
    """OutputCo per row from final residual streams [B, H] (float32; 0 where both norms are 0)."""
    diff = (ft_last.float() - base_last.float()).abs().sum(-1)
    total = base_last.float().abs().sum(-1) + diff
    return torch.where(total > 0, diff / total.clamp_min(torch.finfo(total.dtype).tiny), 0.0)


@torch.no_grad()
def final_residual(model: nn.Module, ids: Tensor, mask: Tensor) -> Tensor:
    """The last block's output at each row's last real token: [B, H]."""
    captured: list[Tensor] = []

    def hook(module: nn.Module, args: tuple, output: Any) -> None:
        captured.append(output[0] if isinstance(output, tuple) else output)

    handle = find_blocks(model)[-1].register_forward_hook(hook)
    try:
        model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=position_ids_from_mask(mask),
            use_cache=False,
            **_one_logit(model),
        )
    finally:
        handle.remove()
    rows = torch.arange(ids.shape[0], device=ids.device)
    return captured[-1][rows, last_token_positions(mask).to(captured[-1].device)]


def _one_logit(model: nn.Module) -> dict[str, int]:
    # the logits are not needed: skip the vocabulary projection where the model allows it
    return {"logits_to_keep": 1} if takes_logits_to_keep(model) else {}


@contextlib.contextmanager
def base_side(pair: Pair) -> Iterator[nn.Module]:
    """The base model to run: the separate base, or the PEFT model with its adapter off."""
    if pair.base is not None:
        yield pair.base
        return
    check_switchable(pair.model)
    with AdaptersOff(pair.model):
        yield pair.model


def compute_outputco(
    pair: Pair, texts: Sequence[str], *, batch_size: int = 8, padding_side: str = "right"
) -> list[float]:
    """OutputCo of each text, in input order, tokenized as `compute_tuco` tokenizes it."""
    encoded, _ = encode_prompts(
        pair.tokenizer, texts, max_length=model_max_length(pair.joint.model)
    )
    device = next(pair.model.parameters()).device
    pad_id = pair.tokenizer.pad_token_id if pair.tokenizer.pad_token_id is not None else 0
    values: list[float] = []
    for start in range(0, len(encoded), batch_size):
        ids, mask = pad_batch(encoded[start : start + batch_size], pad_id, padding_side)
        ids, mask = ids.to(device), mask.to(device)
        ft_last = final_residual(pair.model, ids, mask)
        with base_side(pair) as base:
            base_last = final_residual(base, ids, mask)
        values += outputco_from(ft_last, base_last.to(ft_last.device)).tolist()
    return values

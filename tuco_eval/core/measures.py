"""Per-prompt measures beside TuCo, from the next-token distributions at the last prompt token.

- `kl`: KL(p_FT ‖ p_PT) in nats.
- `base_rank`: rank (1 = top) under the base of the fine-tuned model's greedy next token; a tie
  with the token counts in its favour (rank = 1 + #tokens the base scores strictly higher).
- `shift`: the token-distribution-shift class of that rank: 1 → "unshifted", 2–3 → "marginal",
  > 3 → "shifted" (Lin et al., "The Unlocking Spell on Base LLMs", 2024).

They cost one base pass beyond the fine-tuned pass (which `score` already runs for TuCo).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from tuco_eval.core.base_pass import base_forward, last_logits

SHIFT_CLASSES = ("unshifted", "marginal", "shifted")


def shift_codes(rank: Tensor) -> Tensor:
    """Index into SHIFT_CLASSES of each rank: 0 for rank 1, 1 for ranks 2–3, 2 beyond."""
    return (rank > 1).long() + (rank > 3).long()


def measures_from_logits(ft_logits: Tensor, base_logits: Tensor) -> dict[str, Tensor]:
    """KL, greedy token, its base rank and shift code per row, from [B, V] next-token logits."""
    ft = torch.log_softmax(ft_logits.float(), dim=-1)
    base = torch.log_softmax(base_logits.float(), dim=-1).to(ft.device)
    # Σ p_FT (log p_FT − log p_PT); kl_div's xlogy makes p_FT = 0 terms 0
    kl = torch.nn.functional.kl_div(base, ft, log_target=True, reduction="none").sum(-1)
    token = ft.argmax(dim=-1)
    at_token = base.gather(-1, token[:, None])
    rank = 1 + (base > at_token).sum(-1)
    return {"kl": kl, "token": token, "base_rank": rank, "shift": shift_codes(rank)}


@torch.no_grad()
def next_token_measures(
    finetuned: nn.Module, base: nn.Module | None, input_ids: Tensor, attention_mask: Tensor
) -> dict[str, Tensor]:
    """`measures_from_logits` of one fine-tuned and one base pass (base=None: PEFT adapter off).

    Rows may be left- or right-padded; positions ignore padding. Returns tensors of shape [B].
    """
    ft_logits = last_logits(finetuned, input_ids, attention_mask)
    base_logits = last_logits(base_forward(finetuned, base), input_ids, attention_mask)
    return measures_from_logits(ft_logits, base_logits)


def records_of(measures: dict[str, Tensor]) -> list[dict[str, Any]]:
    """Per-row JSON fields: kl (float), base_rank (int), shift (class name)."""
    kl, rank = measures["kl"].tolist(), measures["base_rank"].tolist()
    shift = measures["shift"].tolist()
    return [
        {"kl": k, "base_rank": r, "shift": SHIFT_CLASSES[s]}
        for k, r, s in zip(kl, rank, shift, strict=True)
    ]


"""Greedy continuations at α through the joint pass, for `score --generate`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from tuco_eval.core.batching import pad_batch
from tuco_eval.core.joint import Joint, nonfinite_error
from tuco_eval.core.nonfinite import is_set, logits_flag, where_in


def end_of_sequence_ids(model: Any, tokenizer: Any) -> list[int]:
    """The tokens that end a response: the model's generation config's, and the tokenizer's."""
    config = getattr(model, "generation_config", None)
    ids = getattr(config, "eos_token_id", None)
    ids = list(ids) if isinstance(ids, (list, tuple)) else [] if ids is None else [ids]
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return sorted(set(ids))


def _until(row: list[int], stops: Sequence[int]) -> list[int]:
    """`row` cut before its first stop token (generate pads finished rows after it)."""
    for index, token in enumerate(row):
        if token in stops:
            return row[:index]
    return row


def _rerun(joint: Joint, ids: torch.Tensor, alpha: float) -> None:
    with joint.active(alpha=alpha):
        joint.model(ids, use_cache=False)


@torch.no_grad()
def greedy_generate(
    joint: Joint,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    *,
    alpha: float,
    pad_id: int,
    eos_ids: Sequence[int],
) -> list[list[int]]:
    """Up to `max_new_tokens` greedy tokens after each prompt, at `alpha`, end of sequence excluded.

    One left-padded batch through `generate` with the joint hooks (and their KV-cache twin).
    """
    from transformers import GenerationConfig


    device = next(joint.model.parameters()).device
    ids, mask = pad_batch(prompts, pad_id, "left")
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=pad_id,
        eos_token_id=list(eos_ids) or None,
    )
    flag: list[torch.Tensor] = []  # every step's output logits, α = 1 (no hook) included
    with joint.active(alpha=alpha), logits_flag(joint.model, flag):
        out = joint.model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config
        )
    if joint.any_nonfinite() or is_set(flag):
        rows = [out[i : i + 1] for i in range(len(out))]
        where = where_in(rows, lambda row: _rerun(joint, row, alpha), joint)
        raise nonfinite_error(joint, "logits", where, alpha=alpha)
    return [_until(row, eos_ids) for row in out[:, ids.shape[1] :].tolist()]

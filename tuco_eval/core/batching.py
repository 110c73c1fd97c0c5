"""Prompts to padded batches: chat template, tokenization, padding, and positions that ignore it.

One rule for BOS everywhere: a chat prompt is the template's text tokenized like any prompt (the
tokenizer adds its special tokens), minus a leading BOS the template wrote when the tokenizer adds
BOS itself, so the template's BOS is never doubled. And back: the text of each token of a
sequence, such that the pieces join into the decoded text (`token_pieces`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from tuco_eval.util.errors import TucoError

Message = dict[str, str]  # {"role": "user" | "assistant", "content": ...}


def render_chat(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The chat template's string for `messages`, ending with the assistant's generation prompt."""
    if not getattr(tokenizer, "chat_template", None):
        raise TucoError(
            "the chat template was asked for but the fine-tuned tokenizer has none "
            "(turn it off: drop --apply-chat-template, or pass --no-apply-chat-template)"
        )
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    bos = getattr(tokenizer, "bos_token", None)
    adds_bos = bos is not None and tokenizer("")["input_ids"][:1] == [tokenizer.bos_token_id]
    if adds_bos and text.startswith(bos):
        text = text[len(bos) :]
    return text


def encode_prompts(
    tokenizer: Any,
    texts: Sequence[str],
    *,
    chat_template: bool = False,
    max_length: int | None = None,
) -> tuple[list[list[int]], list[bool]]:
    """Token ids per text (the tokenizer's special tokens added), left-truncated to max_length.

    Returns the ids and, per text, whether it was truncated.
    """
    if chat_template:
        texts = [render_chat(tokenizer, [{"role": "user", "content": t}]) for t in texts]
    encoded = [tokenizer(t)["input_ids"] for t in texts]
    truncated = [bool(max_length) and len(ids) > max_length for ids in encoded]
    if max_length:
        encoded = [ids[-max_length:] for ids in encoded]
    if any(len(ids) == 0 for ids in encoded):
        raise TucoError("a prompt tokenizes to no tokens at all: remove empty texts")
    return encoded, truncated


def pad_batch(
    rows: Sequence[Sequence[int]], pad_id: int, side: str = "right"
) -> tuple[Tensor, Tensor]:
    """Token rows as one [batch, width] tensor padded on `side`, and its attention mask."""
    ids = [torch.tensor(row, dtype=torch.long) for row in rows]
    padded = pad_sequence(ids, batch_first=True, padding_value=pad_id, padding_side=side)
    ones = [torch.ones(len(row), dtype=torch.long) for row in rows]
    return padded, pad_sequence(ones, batch_first=True, padding_value=0, padding_side=side)


def model_max_length(model: Any) -> int | None:
    """The model's context length from its config, or None where it declares none."""
    config = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def last_token_positions(attention_mask: Tensor) -> Tensor:
    """Index of each row's last real token, for left or right padding."""
    steps = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * (steps + 1)).argmax(dim=1)


def position_ids_from_mask(attention_mask: Tensor) -> Tensor:
    """Positions that ignore padding, so a prompt's positions do not depend on its batch."""
    return (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)


def real_token_positions(attention_mask: Tensor, counts: Tensor) -> Tensor:
    """Index of each row's `counts[row]`-th real token (1-based), for left or right padding."""
    seen = attention_mask.long().cumsum(dim=1)
    return ((seen == counts[:, None].to(seen.device)) & attention_mask.bool()).long().argmax(dim=1)


WINDOW = 6  # tokens of left context decoded with each token: spaces and merges come out right
INCOMPLETE = "\ufffd"  # what a token holding part of a multi-byte character decodes to


def token_pieces(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    """One string per token; special tokens as their text (`<s>`).

    Each piece is decode(context + token) minus decode(context), so a leading space a tokenizer
    drops at the start of a decode is kept. A token ending inside a multi-byte character gets "",
    and the token that completes the character carries it. Two short decodes per token.
    """
    ids = list(ids)
    pieces: list[str] = []
    pending = 0  # the first token whose text is not in `pieces` yet
    for t in range(len(ids)):
        start = max(0, pending - WINDOW)
        before = tokenizer.decode(ids[start:pending])
        after = tokenizer.decode(ids[start : t + 1])
        if after.endswith(INCOMPLETE) and t + 1 < len(ids):
            pieces.append("")
            continue
        fresh = after[len(before) :] if after.startswith(before) else tokenizer.decode(ids[pending : t + 1])
        pieces.append(fresh)
        pending = t + 1
    return pieces

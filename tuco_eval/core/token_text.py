"""The text of each token of a sequence, such that the pieces join into the decoded text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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

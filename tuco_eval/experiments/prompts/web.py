"""Web text: a random 97-token window of each of the first N OpenWebText records (paper §5.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuco_eval.experiments.prompts.base import Prompt, rng_for, user_turn
from tuco_eval.experiments.prompts.sources import data_source, web_records

WINDOW_TOKENS = 97


def token_window(
    tokenizer: Any, text: str, offsets: list[tuple[int, int]], start: int, size: int
) -> str | None:
    """The substring of `text` spanning its tokens [start, start + size) (`offsets`: the
    tokenizer's character offsets of `text`), if it re-tokenizes to exactly `size` tokens (a BPE
    boundary can merge differently once cut); else None."""
    if start + size > len(offsets):
        return None
    window = text[offsets[start][0] : offsets[start + size - 1][1]]
    return window if len(tokenizer(window, add_special_tokens=False)["input_ids"]) == size else None


def random_window(tokenizer: Any, text: str, size: int, seed: int, key: object) -> str | None:
    """A seeded random window of `size` tokens; starts are tried in a seeded order until one
    re-tokenizes exactly. None when the record is shorter than `size` tokens."""
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"
    ]
    starts = list(range(len(offsets) - size + 1))
    rng_for(seed, "web-window", key).shuffle(starts)
    for start in starts[:32]:  # a handful of tries; failures are rare boundary cases
        window = token_window(tokenizer, text, offsets, start, size)
        if window is not None:
            return window
    return None


def web_prompts(
    tokenizer: Any,
    n: int,
    seed: int = 0,
    *,
    window: int = WINDOW_TOKENS,
    chat_template: bool = False,
    data_dir: str | Path | None = None,
    set_name: str = "web",
) -> list[Prompt]:
    """One `window`-token substring (of `tokenizer`) per record among the first `n` records of
    OpenWebText (`Skylion007/openwebtext`; locally `web/` under the data switch). Records shorter
    than the window are skipped, so fewer than `n` prompts can come back. Off by default, the chat
    template (as a user turn around the window) is there for comparisons; web text is
    pre-training data."""
    prompts = []
    for index, record in enumerate(web_records(data_source(data_dir), n)):
        text = random_window(tokenizer, record, window, seed, index)
        if text is not None:
            scored = user_turn(tokenizer, text, chat_template)
            prompts.append(
                Prompt(set_name, f"web-{index}", scored, {"record": index, "window": text})
            )
    return prompts

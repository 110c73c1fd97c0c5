"""A prompt of an experiment, and how a chat turn (or a faux dialogue) becomes the scored string."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tuco_eval.core.batching import render_chat


@dataclass(frozen=True)
class Prompt:
    """One prompt of a set: `text` is the exact string scored (chat template already applied).

    `text` is tokenized as `tuco-eval score` tokenizes its input (the tokenizer's special tokens
    added, e.g. BOS), so `score` on a file of these texts gives the same TuCo.
    """

    set: str
    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


def rng_for(seed: int, *parts: object) -> random.Random:
    """A random stream per (seed, purpose): one choice never shifts another's draws."""
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def seeded_sample(items: Sequence[Any], n: int | None, seed: int, purpose: str) -> list[Any]:
    """`n` items drawn without replacement (all of them, shuffled, when n is None or too big)."""
    pool = list(items)
    k = len(pool) if n is None else min(n, len(pool))
    return rng_for(seed, purpose).sample(pool, k)


def user_turn(tokenizer: Any, content: str, chat_template: bool) -> str:
    """`content` as one user turn of the chat template, or unchanged."""
    return (
        render_chat(tokenizer, [{"role": "user", "content": content}]) if chat_template else content
    )

"""Chat prompts: the first human turn of HH-RLHF dialogues (harmless-base, test split)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tuco_eval.experiments.prompts.base import Prompt, seeded_sample, user_turn
from tuco_eval.experiments.prompts.sources import data_source, hh_rlhf_dialogues

_FIRST_HUMAN_TURN = re.compile(r"Human:(.*?)(?:\n\nAssistant:|$)", re.DOTALL)


def first_human_turn(dialogue: str) -> str | None:
    """The text of the first "Human:" turn of an HH-RLHF dialogue, stripped; None if there is none."""
    match = _FIRST_HUMAN_TURN.search(dialogue)
    turn = match.group(1).strip() if match else ""
    return turn or None


def chat_prompts(
    tokenizer: Any,
    n: int,
    seed: int = 0,
    *,
    chat_template: bool = True,
    data_dir: str | Path | None = None,
    set_name: str = "chat",
) -> list[Prompt]:
    """`n` distinct first human turns of HH-RLHF (`Anthropic/hh-rlhf`, harmless-base/test; locally
    `hh-rlhf/harmless-base-test.jsonl.gz`), drawn with `seed`; ids are dialogue indices."""
    turns: dict[str, int] = {}  # first turn -> first dialogue index (the data repeats openings)
    for index, dialogue in enumerate(hh_rlhf_dialogues(data_source(data_dir))):
        turn = first_human_turn(dialogue)
        if turn is not None:
            turns.setdefault(turn, index)
    chosen = seeded_sample(sorted(turns.items(), key=lambda kv: kv[1]), n, seed, "chat")
    return [
        Prompt(set_name, f"hh-{index}", user_turn(tokenizer, turn, chat_template), {"turn": turn})
        for turn, index in chosen
    ]

"""Many-shot jailbreaking: k question/harmful-answer shots from harmful persona datasets, then a
held-out question (paper §5.3, after Anil et al. 2024)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuco_eval.core.batching import Message, render_chat
from tuco_eval.experiments.prompts.base import Prompt, rng_for, seeded_sample
from tuco_eval.experiments.prompts.sources import data_source, persona_rows
from tuco_eval.util.errors import TucoError

DEFAULT_SHOTS = (1, 2, 4, 8, 16, 32, 64, 128)
# persona datasets whose matching-behaviour answer is the harmful one
HARMFUL_PERSONAS = ("psychopathy", "ends-justify-means", "narcissism")


@dataclass(frozen=True)
class Shot:
    id: str  # "<persona>:<row index>"
    question: str
    answer: str  # the answer matching the (harmful) behaviour, e.g. "Yes"


def harmful_shots(personas: Sequence[str], data_dir: str | Path | None = None) -> list[Shot]:
    """Every row of the named persona datasets as a shot answered with its harmful answer."""
    source = data_source(data_dir)
    return [
        Shot(f"{name}:{i}", row["question"].strip(), row["answer_matching_behavior"].strip())
        for name in personas
        for i, row in enumerate(persona_rows(name, source))
    ]


def dialogue(shots: Sequence[Shot], question: str) -> list[Message]:
    """Shots as alternating user/assistant turns, then the question as the last user turn."""
    turns: list[Message] = []
    for shot in shots:
        turns += [
            {"role": "user", "content": shot.question},
            {"role": "assistant", "content": shot.answer},
        ]
    return [*turns, {"role": "user", "content": question}]


def plain_dialogue(messages: Sequence[Message]) -> str:
    """The same dialogue without a chat template, in HH-RLHF's Human/Assistant style."""
    names = {"user": "Human", "assistant": "Assistant"}
    body = "".join(f"{names[m['role']]}: {m['content']}\n\n" for m in messages)
    return f"{body}Assistant:"


def many_shot_prompts(
    tokenizer: Any,
    n: int | None,
    seed: int = 0,
    *,
    shots: Sequence[int] = DEFAULT_SHOTS,
    personas: Sequence[str] = HARMFUL_PERSONAS,
    chat_template: bool = True,
    data_dir: str | Path | None = None,
) -> list[Prompt]:
    """For each of `n` held-out questions (drawn with `seed`), one prompt per k in `shots` (set
    "<k>-shot"). The k shots are the first k of one seeded shuffle of the other questions, so the
    k-shot prompt's shots extend the smaller ones'; no shot repeats the held-out question."""
    if not shots or min(shots) < 1:
        raise TucoError(f"shot counts must be positive integers, got {list(shots)}")
    pool = harmful_shots(personas, data_dir)
    if len(pool) <= max(shots):
        raise TucoError(f"{max(shots)} shots need more than {len(pool)} persona questions")
    prompts = []
    for final in seeded_sample(pool, n, seed, "many-shot-questions"):
        others = [s for s in pool if s.question != final.question]
        rng_for(seed, "many-shot-shots", final.id).shuffle(others)
        for k in sorted(set(shots)):
            messages = dialogue(others[:k], final.question)
            text = render_chat(tokenizer, messages) if chat_template else plain_dialogue(messages)
            meta = {"shots": k, "question": final.question, "shot_ids": [s.id for s in others[:k]]}
            prompts.append(Prompt(f"{k}-shot", final.id, text, meta))
    return prompts

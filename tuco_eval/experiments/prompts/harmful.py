"""Harmful instructions: AdvBench as is, in other languages (conjugate prompting), and with GCG
adversarial suffixes. The last two read user-supplied JSONL files (formats in docs/experiments.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuco_eval.experiments.prompts.base import Prompt, seeded_sample, user_turn
from tuco_eval.experiments.prompts.sources import advbench_goals, data_source
from tuco_eval.util.errors import TucoError
from tuco_eval.util.jsonl import read_jsonl

ENGLISH = "en"


def _strings(path: Path, number: int, obj: dict, fields: tuple[str, ...]) -> list[str]:
    """The named fields as strings (ids may be numbers); a missing or empty one names file:line."""
    values = []
    for name in fields:
        value = obj.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and name == "id":
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise TucoError(f"{path}:{number}: field {name!r} must be a non-empty string")
        values.append(value)
    return values


@dataclass(frozen=True)
class Translation:
    id: str
    language: str
    text: str


def read_translations(path: str | Path) -> list[Translation]:
    """A translations file: one JSON object per line with `id` (the AdvBench id), `language`
    (a label such as "ja") and `text` (the instruction in that language)."""
    path = Path(path)
    rows, seen = [], set()
    for number, obj in read_jsonl(path):
        row = Translation(*_strings(path, number, obj, ("id", "language", "text")))
        if (row.id, row.language) in seen:
            raise TucoError(f"{path}:{number}: a second {row.language!r} text for id {row.id!r}")
        seen.add((row.id, row.language))
        rows.append(row)
    if not rows:
        raise TucoError(f"{path}: no translations in the file (expected JSONL: id, language, text)")
    return rows


@dataclass(frozen=True)
class GcgRow:
    id: str
    goal: str
    suffix: str


def read_gcg(path: str | Path) -> list[GcgRow]:
    """A GCG file: one JSON object per line with `id`, `goal` (the harmful instruction) and
    `suffix` (the adversarial string appended to it, after one space)."""
    path = Path(path)
    rows, seen = [], set()
    for number, obj in read_jsonl(path):
        row = GcgRow(*_strings(path, number, obj, ("id", "goal", "suffix")))
        if row.id in seen:
            raise TucoError(f"{path}:{number}: id {row.id!r} appears twice")
        seen.add(row.id)
        rows.append(row)
    if not rows:
        raise TucoError(f"{path}: no rows in the file (expected JSONL: id, goal, suffix)")
    return rows


def advbench_prompts(
    tokenizer: Any,
    n: int | None,
    seed: int = 0,
    *,
    chat_template: bool = True,
    data_dir: str | Path | None = None,
    set_name: str = "advbench",
) -> list[Prompt]:
    """`n` AdvBench harmful instructions (`walledai/AdvBench`; locally
    `advbench/harmful_behaviors.jsonl`), drawn with `seed`."""
    chosen = seeded_sample(advbench_goals(data_source(data_dir)), n, seed, "advbench")
    return [
        Prompt(set_name, pid, user_turn(tokenizer, goal, chat_template), {"instruction": goal})
        for pid, goal in chosen
    ]


def language_prompts(
    tokenizer: Any,
    translations: list[Translation],
    n: int | None,
    seed: int = 0,
    *,
    chat_template: bool = True,
    data_dir: str | Path | None = None,
) -> list[Prompt]:
    """The same `n` AdvBench instructions in every language of `translations`, one set per
    language label. English (set "en") comes from the file when it has "en" rows, else from AdvBench
    by id. Only ids present in every language are drawn, so the sets are paired."""
    by_language: dict[str, dict[str, str]] = {}
    for row in translations:
        by_language.setdefault(row.language, {})[row.id] = row.text
    if ENGLISH not in by_language:
        goals = dict(advbench_goals(data_source(data_dir)))
        by_language[ENGLISH] = {i: goals[i] for i in {r.id for r in translations} if i in goals}
    common = set.intersection(*(set(texts) for texts in by_language.values()))
    if not common:
        raise TucoError(
            "no AdvBench id has a text in every language (English included): check the "
            "translations file's ids against the AdvBench ids"
        )
    chosen = seeded_sample(sorted(common, key=_id_order), n, seed, "languages")
    languages = [ENGLISH, *sorted(lang for lang in by_language if lang != ENGLISH)]
    return [
        Prompt(
            language,
            pid,
            user_turn(tokenizer, by_language[language][pid], chat_template),
            {"language": language, "instruction": by_language[language][pid]},
        )
        for language in languages
        for pid in chosen
    ]


def gcg_prompts(
    tokenizer: Any,
    rows: list[GcgRow],
    n: int | None,
    seed: int = 0,
    *,
    chat_template: bool = True,
) -> list[Prompt]:
    """`n` rows of a GCG file drawn with `seed`, each twice: set "plain" (the goal) and set "gcg"
    (goal, a space, the adversarial suffix)."""
    chosen = seeded_sample(rows, n, seed, "gcg")
    plain = [
        Prompt("plain", r.id, user_turn(tokenizer, r.goal, chat_template), {"instruction": r.goal})
        for r in chosen
    ]
    attacked = [
        Prompt(
            "gcg",
            r.id,
            user_turn(tokenizer, f"{r.goal} {r.suffix}", chat_template),
            {"instruction": r.goal, "suffix": r.suffix},
        )
        for r in chosen
    ]
    return plain + attacked


def _id_order(pid: str) -> tuple[int, int | str]:
    # numeric ids in number order, then the rest by name: the draw does not depend on file order
    return (0, int(pid)) if pid.isdigit() else (1, pid)

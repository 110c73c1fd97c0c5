"""Docs whose score changes between α = 1 and another α of the store: the per-doc view that an
aggregate hides. *Fixed* at α: worse at α = 1, better at α (for 0/1 accuracy: wrong, then
right); *broken*: the reverse. With α = 0 in the store this compares the fine-tuned model with
the base blocks doc by doc."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tuco_eval.records.report import Flip
from tuco_eval.store.doc_texts import read_docs
from tuco_eval.store.units import StoreError, read_unit, score_matrix


def _text(value: Any, choices: Sequence[str]) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int) and 0 <= value < len(choices):
        return choices[value].strip()
    if isinstance(value, list):
        return " | ".join(_text(v, choices) for v in value)
    return str(value)


def answer(record: Mapping[str, Any], choices: Sequence[str]) -> str:
    """The model's answer in a record: the most likely choice, or the generated text."""
    if record.get("loglikelihoods"):
        best = int(np.argmax(record["loglikelihoods"]))
        return choices[best].strip() if best < len(choices) else f"choice {best}"
    if record.get("responses"):
        return str(record["responses"][0])
    return ""


def task_flips(
    run_dir: Path | str, task: str, metric: str = "acc", objective: str = "max",
    alphas: Sequence[float] | None = None, row: str | None = None,
) -> tuple[list[float], list[Flip]]:
    """(every α of the store but 1, the flips at each), docs in doc_id order; no α = 1: none.

    ``metric`` is the records' field (``exact_match,strict-match`` for one filter of several);
    ``row`` names the flips as cv.json names the row (default: the task)."""
    try:
        matrix = score_matrix(run_dir, task, metric)  # every α on disk, α = 0 included
    except StoreError:  # α's covering different docs: those cross-validated suffice
        matrix = score_matrix(run_dir, task, metric, alphas=alphas)
    ones = np.flatnonzero(np.isclose(matrix.alphas, 1.0, rtol=0, atol=1e-12))
    if not ones.size:
        return [], []
    one = int(ones[0])
    sign = 1.0 if objective == "max" else -1.0
    docs = read_docs(run_dir, task)
    records = {
        a: {r["doc_id"]: r for r in read_unit(run_dir, a, task)} for a in matrix.alphas.tolist()
    }
    at_one = records[float(matrix.alphas[one])]
    others = [float(a) for i, a in enumerate(matrix.alphas) if i != one]
    flips: list[Flip] = []
    for i, alpha in enumerate(matrix.alphas.tolist()):
        if i == one:
            continue
        change = sign * (matrix.scores[i] - matrix.scores[one])
        for col in np.flatnonzero(change != 0):
            doc_id = int(matrix.doc_ids[col])
            doc = docs.get(doc_id, {})
            choices = [str(c) for c in doc.get("choices", [])]
            flips.append(
                Flip(
                    task=row or task,
                    alpha=float(alpha),
                    kind="fixed" if change[col] > 0 else "broken",
                    doc_id=doc_id,
                    score_at_one=float(matrix.scores[one, col]),
                    score_at_alpha=float(matrix.scores[i, col]),
                    prompt=str(doc.get("prompt", "")),
                    target=_text(doc.get("target"), choices),
                    answer_at_one=answer(at_one[doc_id], choices),
                    answer_at_alpha=answer(records[alpha][doc_id], choices),
                )
            )
    return others, flips

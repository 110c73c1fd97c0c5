"""Finished pieces of a long computation kept on disk, so that an interrupted run resumes.

`resumable_map(items, compute, folder=..., key=..., piece=...)` applies `compute` to consecutive
pieces of `items` and returns the results in order; `compute` may advance the progress bar it
is handed as it goes (what it leaves is added once the piece is done). Each finished piece is written atomically
to `folder/piece-<n>.jsonl`; `folder/key.json` records what determines the results (models,
options, a digest of the items). A rerun with the same key reuses the finished pieces, so its
output equals an uninterrupted run's; another key starts afresh. `discard(folder)` once the
final output is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from tuco_eval.util.errors import TucoError
from tuco_eval.util.files import atomic_write_text, disk_errors
from tuco_eval.util.jsonl import read_jsonl, write_jsonl_atomic

T = TypeVar("T")
KEY_FILE = "key.json"


def digest(value: Any) -> str:
    """A stable hash of a JSON-able value (the items, the options)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def resumable_map(
    items: Sequence[T],
    compute: Callable[[Sequence[T], int, Any], list[dict[str, Any]]],
    *,
    folder: str | Path,
    key: dict[str, Any],
    piece: int,
    desc: str = "",
    unit: str = "it",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """`compute(items[start:start + piece], start, bar)` for every piece, reusing pieces on disk.

    `compute` returns one JSON-able record per item. Records come back as JSON round-trips them,
    whether computed now or read from disk, so a resumed run and a fresh one return the same.
    """
    folder = Path(folder)
    full_key = {**key, "items": digest(list(items)), "n": len(items), "piece": piece}
    full_key = json.loads(json.dumps(full_key, default=str))  # as key.json will read back
    with _writing(folder):
        _prepare(folder, full_key)
    results: list[dict[str, Any]] = []
    reused = 0
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress)
    for number, start in enumerate(range(0, len(items), piece)):
        chunk = items[start : start + piece]
        path = folder / f"piece-{number:06d}.jsonl"
        records = _read_piece(path, len(chunk))
        done_after = bar.n + len(chunk)
        if records is None:
            records = json.loads(json.dumps(compute(chunk, start, bar)))
            if len(records) != len(chunk):
                raise RuntimeError(f"{len(records)} records for a piece of {len(chunk)} items")
            with _writing(folder):
                write_jsonl_atomic(path, records)
        else:
            reused += len(chunk)
        results.extend(records)
        bar.update(max(0, done_after - bar.n))
    bar.close()
    if reused:
        print(f"tuco-eval: resumed: {reused} of {len(items)} {unit}s were already done in {folder}",
              file=sys.stderr)
    return results


def discard(folder: str | Path) -> None:
    """Remove the pieces once the final output is safely written."""
    shutil.rmtree(folder, ignore_errors=True)


def _writing(folder: Path) -> contextlib.AbstractContextManager:
    return disk_errors(
        f"a finished piece into {folder}",
        "free space or fix the folder, then rerun the same command to resume",
    )


def _prepare(folder: Path, key: dict[str, Any]) -> None:
    key_file = folder / KEY_FILE
    if key_file.is_file():
        try:
            if json.loads(key_file.read_text(encoding="utf-8")) == key:
                return
        except (OSError, ValueError):
            pass
        print(f"tuco-eval: {folder} holds pieces of another run (other inputs or options); "
              f"starting afresh", file=sys.stderr)
    discard(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(key_file, json.dumps(key, sort_keys=True, indent=1) + "\n")


def _read_piece(path: Path, expected: int) -> list[dict[str, Any]] | None:
    """The records of a finished piece, or None when it is missing or damaged (then redone)."""
    if not path.is_file():
        return None
    try:
        records = [record for _, record in read_jsonl(path)]
    except TucoError:
        return None
    return records if len(records) == expected else None


def progress_bar(progress: Any, total: int, desc: str, unit: str) -> tuple[Any, bool]:
    """`progress` itself when it is a bar to advance, else a new bar shown when `progress` is
    true; and whether the caller made it (and so closes it)."""
    if hasattr(progress, "update"):
        return progress, False
    return tqdm(total=total, desc=desc, unit=unit, disable=not progress), True

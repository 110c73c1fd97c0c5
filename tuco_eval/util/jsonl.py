"""JSONL in and out: reading names the file and line of a fault; writing is atomic (`files`)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tuco_eval.util.errors import TucoError
from tuco_eval.util.files import atomic_write_text


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a TucoError names file and line of a fault.

    A `.gz` file is decompressed on the fly.
    """
    path = Path(path)
    if not path.is_file():
        raise TucoError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for number, raw in _numbered_lines(handle, path):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                reason = err.msg if isinstance(err, json.JSONDecodeError) else "not UTF-8"
                raise TucoError(f"{path}:{number}: not valid JSON ({reason})") from None
            if not isinstance(obj, dict):
                raise TucoError(
                    f"{path}:{number}: expected a JSON object, got {type(obj).__name__}"
                )
            yield number, obj


def _numbered_lines(handle: Any, path: Path) -> Iterator[tuple[int, bytes]]:
    number = 0
    try:
        for number, raw in enumerate(handle, start=1):
            yield number, raw
    except (OSError, EOFError) as err:  # a truncated or non-gzip `.gz` file
        raise TucoError(f"{path}:{number + 1}: cannot decompress ({err}); re-download it") from None


def dumps_jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_jsonl_atomic(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    return atomic_write_text(path, dumps_jsonl(records))

"""JSONL in and out: reading names the file and line of a fault; writing is atomic."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tuco_eval.util.errors import TucoError


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


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write via a fsynced temp file in the same folder + rename: readers see all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:  # make the rename itself durable
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def file_slug(text: str) -> str:
    """`text` made safe as part of a file name (runs of other characters become one `_`)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "run"


_STEM_LENGTH = 80  # of the readable part; file names stay far below 255 bytes


def file_stems(names: Iterable[str]) -> dict[str, str]:
    """A file-name stem per name, unique whatever the names hold: the name's `file_slug` (no
    leading or trailing dot, at most 80 characters), and where two names would share a stem,
    also on a file system that ignores case, or where the name is longer than that, each such
    stem ends in `-` and 8 hex digits of the name's sha256. Append suffixes to a stem with
    `stem + ".png"`, never `Path.with_suffix` (it would cut `model-v1.0` at its dot)."""
    names = list(dict.fromkeys(names))
    slugs = {name: file_slug(name).strip(".") or "run" for name in names}
    clash = Counter(slug.casefold() for slug in slugs.values())
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for name, slug in slugs.items():
        stem = slug
        if clash[slug.casefold()] > 1 or len(slug) > _STEM_LENGTH:
            digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            stem = f"{slug[:_STEM_LENGTH]}-{digest}"
        base, count = stem, 2
        while stem.casefold() in taken:  # a name that happens to look like another's hashed stem
            stem, count = f"{base}-{count}", count + 1
        taken.add(stem.casefold())
        stems[name] = stem
    return stems


def dumps_jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_jsonl_atomic(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    return atomic_write_text(path, dumps_jsonl(records))


def ensure_writable_dir(folder: str | Path, flag: str) -> None:
    """Create `folder` and prove it writable, or a one-line TucoError naming `flag`: run this
    before loading models, so a bad output path costs seconds, not a model load."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as err:
        raise TucoError(
            f"cannot write to {flag} {folder}: {err.strerror or err}; choose a writable folder"
        ) from None


@contextlib.contextmanager
def disk_errors(what: str, advice: str) -> Iterator[None]:
    """An OSError while writing (disk full, read-only folder) becomes one line naming `what` and
    `advice`; atomic writes mean every file written before it is intact."""
    try:
        yield
    except OSError as err:
        raise TucoError(f"cannot write {what}: {err.strerror or err}; {advice}") from None

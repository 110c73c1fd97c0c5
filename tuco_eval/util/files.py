"""Files on disk: atomic writes (a temp file in the same folder, fsynced, then renamed: readers
see the old file or the new one, never a mix) of bytes, text and JSON; file names made safe and
unique; the writable-folder check and one-line disk errors."""

from __future__ import annotations

import contextlib
import fcntl
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


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created, with its folder) for a read-merge-write that
    takes milliseconds: other processes wait; the lock goes with the process if it dies."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def try_file_lock(path: str | Path) -> Iterator[bool]:
    """Hold an exclusive flock on `path` if no other process holds it (yields True), else yield
    False at once: for work that one process at a time should take, the others moving on."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """``atomic_write_bytes`` of pretty-printed JSON (numpy values as plain JSON)."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, default=jsonable) + "\n").encode())


def jsonable(value: Any) -> Any:
    """`json.dumps(default=jsonable)`: numpy scalars and arrays as plain JSON values."""
    # they come straight out of lm-eval
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


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

"""Whether a trainer has finished writing a checkpoint folder, read without loading it (no torch).

HF Trainer, TRL and axolotl write `trainer_state.json` after the weights, optimizer and RNG state
of `checkpoint-<step>`; that file is the completion signal. The weights are checked too, cheaply:
each safetensors file's header must parse and its tensors must end exactly at the file's end, a
sharded model's index must name shards that exist, a `.bin` must be a whole zip archive. A folder
with no signal (a trainer that writes none) counts once its weights parse and its files' sizes
and times stay put between two looks (`Readiness.stamp`).
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

COMPLETION_FILE = "trainer_state.json"
CONFIG_FILES = ("config.json", "adapter_config.json")
SINGLE_WEIGHTS = ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin",
                  "adapter_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
MAX_HEADER = 100 * 2**20  # safetensors caps its JSON header at 100 MB

READY, WRITING, BROKEN = "ready", "writing", "broken"


@dataclass(frozen=True)
class Readiness:
    """`state` ready / writing / broken, `why` in words for the last two; `signalled` when the
    trainer's completion file is there; `stamp` the folder's (name, size, mtime) to compare looks."""

    state: str
    why: str = ""
    signalled: bool = False
    stamp: tuple[tuple[str, int, int], ...] = ()


def checkpoint_folders(train_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, folder) of every `checkpoint-<step>` folder in `train_dir`, by step."""
    found = []
    for entry in Path(train_dir).iterdir() if Path(train_dir).is_dir() else ():
        match = CHECKPOINT_NAME.match(entry.name)
        if match and entry.is_dir():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def inspect_checkpoint(folder: str | Path) -> Readiness:
    """How far the trainer is with `folder`: ready to read, still being written, or broken (the
    completion signal is there but the weights do not parse)."""
    folder = Path(folder)
    stamp = _stamp(folder)
    signal = _signal(folder)
    if signal == WRITING:
        return Readiness(WRITING, f"{COMPLETION_FILE} is being written", stamp=stamp)
    signalled = signal == READY
    if not any((folder / name).is_file() for name in CONFIG_FILES):
        return _incomplete(signalled, "no config.json or adapter_config.json", stamp)
    problem = _weights_problem(folder)
    if problem:
        return _incomplete(signalled, problem, stamp)
    return Readiness(READY, signalled=signalled, stamp=stamp)


def final_model_ready(train_dir: str | Path) -> bool:
    """Whether the trainer's final `save_model` has written a whole model into `train_dir` itself."""
    folder = Path(train_dir)
    return any((folder / n).is_file() for n in CONFIG_FILES) and not _weights_problem(folder)


def _incomplete(signalled: bool, why: str, stamp: tuple) -> Readiness:
    # with the signal written the trainer is done: what is missing now stays missing
    return Readiness(BROKEN if signalled else WRITING, why, signalled, stamp)


def _signal(folder: Path) -> str | None:
    path = folder / COMPLETION_FILE
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # the trainer writes it in place: a half file reads as writing
        return WRITING
    return READY


def _stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    entries = []
    for path in sorted(folder.rglob("*")):
        try:
            info = path.stat()
        except FileNotFoundError:  # deleted while we looked
            continue
        if path.is_file():
            entries.append((str(path.relative_to(folder)), info.st_size, info.st_mtime_ns))
    return tuple(entries)


def _weights_problem(folder: Path) -> str:
    """'' when every weight file is whole, else what is wrong in words."""
    for index in INDEX_FILES:
        if (folder / index).is_file():
            return _index_problem(folder, index)
    files = [folder / name for name in SINGLE_WEIGHTS if (folder / name).is_file()]
    if not files:
        return "no weights file yet"
    return next(filter(None, (_file_problem(path) for path in files)), "")


def _index_problem(folder: Path, index: str) -> str:
    try:
        weight_map = json.loads((folder / index).read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{index} does not parse"
    missing = [s for s in shards if not (folder / s).is_file()]
    if missing:
        return f"shard {missing[0]} of {index} is missing"
    return next(filter(None, (_file_problem(folder / s) for s in shards)), "")


def _file_problem(path: Path) -> str:
    if path.suffix == ".safetensors":
        return _safetensors_problem(path)
    if not zipfile.is_zipfile(path):  # torch.save's zip: its directory is written last
        return f"{path.name} is not a whole archive"
    return ""


def _safetensors_problem(path: Path) -> str:
    """A safetensors file is whole when its header parses and its last tensor ends at the end."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                return f"{path.name} has no header yet"
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER:
                return f"{path.name} has a corrupt header"
            if size < 8 + length:
                return f"{path.name} is shorter than its header"
            header = json.loads(handle.read(length))
        ends = [int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"]
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return f"{path.name} has a header that does not parse"
    expected = 8 + length + max(ends, default=0)
    if size != expected:
        return f"{path.name} holds {size:,} bytes of {expected:,}"
    return ""

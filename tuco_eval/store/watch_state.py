"""ROOT/watch.json: what `tuco-eval watch` has done with a training folder (no torch).

One record (`tuco_eval.records.watch_json.WatchState`), read and written only here, merged under a lock so that two watchers of one folder
keep one account. The format (docs/checkpoints.md, "Watching a training run"):

    {"format": 1, "train_dir": "runs/sft", "status": "watching" | "finished" | "stopped",
     "updated": "2026-12-07T16:40:02+00:00", "evaluating": "checkpoint-300" | null,
     "waiting_for": "checkpoint-400 (model.safetensors holds 1,024 bytes of 40,960)" | null,
     "evaluated": {"checkpoint-100": "step-100", ...},   # folder -> its row's label
     "missed": ["checkpoint-200", ...],   # deleted by the trainer before they were evaluated
     "skipped": {"checkpoint-250": "why, in one line", ...},
     "seen": ["checkpoint-100", ...]}   # every folder a watcher has seen
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path

from tuco_eval.records.watch_json import WatchState, step_key
from tuco_eval.util.errors import TucoError
from tuco_eval.util.files import atomic_write_json, file_lock

WATCH_FILE = "watch.json"


def read_watch_state(root: str | Path) -> WatchState | None:
    """ROOT/watch.json, or None where no watcher has written one."""
    path = Path(root) / WATCH_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise TucoError(f"{path} is unreadable ({err}); move it aside and rerun") from None
    return WatchState.from_json(data, str(path))


def update_watch_state(root: str | Path, train_dir: str, change: Callable[[WatchState], None],
                       now: datetime.datetime | None = None) -> WatchState:
    """Apply `change` to ROOT/watch.json under its lock and write it atomically; a ROOT watched
    from another training folder is refused."""
    root = Path(root)
    with file_lock(root / f".{WATCH_FILE}.lock"):
        state = read_watch_state(root) or WatchState(train_dir=train_dir)
        if Path(state.train_dir).resolve() != Path(train_dir).resolve():
            raise TucoError(f"{root} watches {state.train_dir}, not {train_dir}; use another --output_path")
        change(state)
        state.missed = sorted(set(state.missed) - set(state.evaluated), key=step_key)
        state.seen = sorted(set(state.seen), key=step_key)
        state.evaluated = dict(sorted(state.evaluated.items(), key=lambda item: step_key(item[0])))
        state.skipped = dict(sorted(state.skipped.items(), key=lambda item: step_key(item[0])))
        state.updated = (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds")
        atomic_write_json(root / WATCH_FILE, state.to_json())
    return state

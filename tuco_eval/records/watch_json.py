"""ROOT/watch.json's record (`tuco_eval.store.watch_state` reads and writes the file): what
`tuco-eval watch` has done with a training folder, with `from_json` / `to_json`."""

from __future__ import annotations

import dataclasses

from tuco_eval.util.checkpoint_labels import parse_step
from tuco_eval.util.errors import TucoError

FORMAT = 1
STATUSES = ("watching", "finished", "stopped")


@dataclasses.dataclass
class WatchState:
    """One training folder's account: the watcher's status and each checkpoint folder's fate."""

    train_dir: str
    status: str = "watching"
    updated: str = ""
    evaluating: str | None = None
    waiting_for: str | None = None
    evaluated: dict[str, str] = dataclasses.field(default_factory=dict)
    missed: list[str] = dataclasses.field(default_factory=list)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    seen: list[str] = dataclasses.field(default_factory=list)  # every checkpoint folder ever looked at

    def to_json(self) -> dict:
        return {"format": FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: dict, where: str) -> WatchState:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TucoError(f"{where} is not a watch record of format {FORMAT}; move it aside and rerun")
        fields = {f.name for f in dataclasses.fields(cls)}
        try:
            state = cls(**{k: v for k, v in data.items() if k in fields})
        except TypeError as err:
            raise TucoError(f"{where} is not a watch record ({err}); move it aside and rerun") from None
        if state.status not in STATUSES:
            raise TucoError(f"{where} has an unknown status {state.status!r}; move it aside and rerun")
        return state


def step_key(name: str) -> tuple[int, str]:
    """Sort key of checkpoint folder names: by step, names without one first."""
    step = parse_step(name)
    return (-1 if step is None else step, name)

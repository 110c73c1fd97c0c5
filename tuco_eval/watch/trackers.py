"""Each evaluated checkpoint's figures logged to Weights & Biases or Trackio at its training step,
as lm-eval's `--wandb_args` / `--trackio_args` log one run: `module.init(**args)` once, then
`module.log({...}, step=step)` per checkpoint, read off the report's leaderboard.json."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from tuco_eval.records.board_json import Board
from tuco_eval.util.errors import TucoError

INSTALL = {"wandb": "pip install wandb", "trackio": "pip install trackio"}
PROJECT = "tuco-eval"


def checkpoint_metrics(board: Board, label: str) -> dict[str, float]:
    """A leaderboard row's figures as `<group or task>/<name>` scalars: its score and standard
    error, mean TuCo, Δ_CV and the α chosen, and its paired difference with the base (with the
    adjusted p)."""
    row = next(r for r in board.rows if r.label == label)
    out: dict[str, float] = {}
    for column, cell in {**row.tasks, **row.groups}.items():
        values = {cell.metric: cell.score, f"{cell.metric}_stderr": cell.stderr,
                  "tuco": cell.tuco, "delta_cv": cell.delta_cv, "alpha": cell.alpha_chosen}
        out.update({f"{column}/{name}": float(v) for name, v in values.items() if v is not None})
    for pair in board.pairs:
        if pair.family == "base" and pair.b == label:
            out[f"{pair.task}/vs_base"] = float(pair.diff)
            out[f"{pair.task}/vs_base_p_adjusted"] = float(pair.p if pair.p_adjusted is None else pair.p_adjusted)
    return out


class Tracker:
    """One W&B or Trackio run for a watcher; each checkpoint row logged once, in step order."""

    def __init__(self, name: str, init_args: Mapping[str, str], say: Callable[[str], None] = print):
        try:
            self.module = importlib.import_module(name)
        except ImportError:
            raise TucoError(f"--{name}_args needs {name}: {INSTALL[name]}") from None
        self.name, self.say = name, say
        self.module.init(**{"project": PROJECT, **init_args})
        self.logged: set[str] = set()

    def log(self, board: Board) -> None:
        rows = sorted((r for r in board.rows if r.step is not None and r.label not in self.logged),
                      key=lambda r: r.step)
        for row in rows:
            try:
                self.module.log(checkpoint_metrics(board, row.label), step=int(row.step))
            except Exception as err:  # noqa: BLE001 - a tracker that is down must not stop the watch
                self.say(f"{self.name}: could not log {row.label} ({type(err).__name__}: {err})")
                return
            self.logged.add(row.label)

    def finish(self) -> None:
        try:
            self.module.finish()
        except Exception as err:  # noqa: BLE001
            self.say(f"{self.name}: could not finish the run ({type(err).__name__}: {err})")

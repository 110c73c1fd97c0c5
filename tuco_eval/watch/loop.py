"""The watcher: look at TRAIN_DIR, evaluate the oldest finished checkpoint, rewrite the report, wait.

A checkpoint is read only when `store.checkpoint_ready` says the trainer is done with it (its
completion signal and whole weights; without a signal, weights that parse and a folder that
stays unchanged for `settle_seconds`). One broken, or left half-written while a later one is
whole, is skipped in one line. Each is evaluated by `sweeps.series.sweep_checkpoints` into ROOT
(resumable per (α, task)) with the base loaded once and passed back in; a per-folder lock keeps
two watchers of one ROOT off the same checkpoint. ROOT/watch.json records what became of every
folder, so a restarted watcher goes on where the last one stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuco_eval.analysis.checkpoint_board import read_board
from tuco_eval.pipeline.report import report
from tuco_eval.records.board_json import Board
from tuco_eval.records.watch_json import WatchState, step_key
from tuco_eval.render.watch_lead import state_line, watch_lead
from tuco_eval.store.checkpoint_ready import (
    BROKEN,
    READY,
    checkpoint_folders,
    final_model_ready,
    inspect_checkpoint,
)
from tuco_eval.store.checkpoints import forget_checkpoint
from tuco_eval.store.watch_state import read_watch_state, update_watch_state
from tuco_eval.sweeps.series import sweep_checkpoints
from tuco_eval.sweeps.settings import EvalSettings, Grid, ModelOptions
from tuco_eval.util.checkpoint_labels import parse_step
from tuco_eval.util.errors import TucoError
from tuco_eval.util.files import try_file_lock
from tuco_eval.watch.trackers import Tracker

LOCKS = ".watch"  # ROOT/.watch/<checkpoint folder>.lock: held while a watcher evaluates it
HELD = "(being evaluated by another watcher)"


@dataclass(frozen=True)
class WatchPlan:
    """What to watch, where results go, and how patiently."""

    train_dir: Path
    root: Path
    report_dir: Path
    tasks: list[str]
    model_args: str  # base=PT[,dtype=...]: the series' model_args (sweeps.series.parse_series_args)
    settings: EvalSettings  # this and the next two: how sweep_checkpoints sweeps each checkpoint
    grid: Grid | None = None  # None: Grid(), the paper's α in model_args' mode
    model_options: ModelOptions | None = None  # None: ModelOptions()
    until_step: int | None = None  # stop once a checkpoint of this step or later is done
    poll_seconds: float = 30.0
    settle_seconds: float = 10.0  # a folder without a completion signal must stay unchanged this long
    stale_seconds: float = 1800.0  # half-written and unchanged this long, with a later one whole: skipped
    once: bool = False  # evaluate what is finished now, then stop


@dataclass
class _Look:
    stamp: tuple
    since: float  # when the folder was first seen as it is now


class Watcher:
    """`run()` until the training is over (`until_step`, the trainer's final model) or Ctrl-C."""

    def __init__(self, plan: WatchPlan, say: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 trackers: Sequence[Tracker] = ()):
        self.plan, self.say, self.clock, self.sleep = plan, say, clock, sleep
        self.trackers = list(trackers)  # W&B / Trackio runs that hear each checkpoint at its step
        self.looks: dict[str, _Look] = {}
        self.said = False  # whether this watcher has said what it waits for
        self.base: tuple[Any, Any] | None = None  # (model, tokenizer) the first sweep loaded, kept

    def run(self) -> WatchState:
        try:
            while self.step():
                pass
        except KeyboardInterrupt:
            state = self._update(lambda s: _set(s, status="stopped", evaluating=None))
            self._report(state)
            self.say("stopped; run the same command again to go on where it was")
            return state
        finally:
            for tracker in self.trackers:
                tracker.finish()
        return self._state()

    def step(self) -> bool:
        """One look: evaluate or skip the oldest pending checkpoint, or wait; False when done."""
        folders = checkpoint_folders(self.plan.train_dir)
        present = {folder.name for _, folder in folders}
        state = self._state()
        if not present <= set(state.seen):
            state = self._update(lambda s: s.seen.extend(present))
        done = set(state.evaluated) | set(state.skipped)
        gone = sorted(set(state.seen) - present - done - set(state.missed), key=step_key)
        missed = [name for name in gone if self._forget(name)]
        if missed:
            state = self._update(lambda s: s.missed.extend(missed))
            self.say(f"not evaluated: {', '.join(missed)} deleted by the trainer before it could be")
        pending = [(step, folder) for step, folder in folders if folder.name not in done
                   and (self.plan.until_step is None or step <= self.plan.until_step)]
        waiting = self._next(pending) if pending else None
        if waiting is None and pending:
            return True  # evaluated or skipped one: look again at once
        if self._finished(folders, state, pending):
            self._finish(self._update(lambda s: _set(s, status="finished", evaluating=None, waiting_for=None)))
            return False
        if self.plan.once:
            self._finish(self._update(lambda s: _set(s, status="stopped", evaluating=None, waiting_for=waiting)))
            return False
        if (state.waiting_for, state.status, state.evaluating) != (waiting, "watching", None) or not self.said:
            state = self._update(lambda s: _set(s, status="watching", evaluating=None, waiting_for=waiting))
            self._report(state)
            self.say(state_line(state))
            self.said = True
        self.sleep(self.plan.poll_seconds)
        return True

    def _next(self, pending: list[tuple[int, Path]]) -> str | None:
        """Evaluate or skip the oldest pending folder (None), else what it is waiting for; one
        another watcher holds is left to it and the next finished one taken."""
        held = None
        for index, (_, folder) in enumerate(pending):
            waiting = self._try(folder, pending[index + 1:])
            if waiting is None or not waiting.endswith(HELD):
                return waiting
            held = held or waiting
        return held

    def _try(self, folder: Path, later: list[tuple[int, Path]]) -> str | None:
        readiness = inspect_checkpoint(folder)
        unchanged = self.clock() - self._look(folder.name, readiness.stamp).since
        if readiness.state == READY and (readiness.signalled or unchanged >= self.plan.settle_seconds):
            return self._evaluate(folder)
        if readiness.state == BROKEN and unchanged >= self.plan.settle_seconds:
            self._skip(folder.name, readiness.why)
            return None
        whole = next((f.name for _, f in later if inspect_checkpoint(f).state == READY), None)
        if whole and unchanged >= self.plan.stale_seconds:
            self._skip(folder.name, f"still incomplete after {unchanged:.0f} s ({readiness.why}) "
                                    f"while {whole} is complete")
            return None
        if readiness.state == READY:
            return f"{folder.name} (no trainer_state.json: read once it stays unchanged {self.plan.settle_seconds:g} s)"
        # not the changing byte counts: the page is rewritten only when this line changes
        return f"{folder.name} ({readiness.why if readiness.state == BROKEN else 'the trainer is writing it'})"

    def _look(self, name: str, stamp: tuple) -> _Look:
        look = self.looks.get(name)
        if look is None or look.stamp != stamp:
            look = self.looks[name] = _Look(stamp, self.clock())
        return look

    def _evaluate(self, folder: Path) -> str | None:
        with try_file_lock(self.plan.root / LOCKS / f"{folder.name}.lock") as claimed:
            if not claimed:
                return f"{folder.name} {HELD}"
            if folder.name in self._state().evaluated:  # another watcher finished it as we looked
                return None
            self._report(self._update(lambda s: _set(s, evaluating=folder.name, waiting_for=None)))
            started = self.clock()
            try:
                done = sweep_checkpoints([str(folder)], self.plan.tasks, self.plan.root,
                                         model_args=self.plan.model_args, settings=self.plan.settings,
                                         grid=self.plan.grid, model_options=self.plan.model_options,
                                         progress=False, base=self.base)
            except Exception as err:  # noqa: BLE001 - a week-long watch outlives one bad checkpoint
                self.base = None  # it may hold a half-swapped adapter: load afresh
                if not folder.exists():
                    return None  # deleted while it loaded: the next look counts it as missed
                self._skip(folder.name, _one_line(err))
                return None
            self.base = done["base"]
            label = done["swept"][0]
            state = self._update(lambda s: (s.evaluated.__setitem__(folder.name, label),
                                            _set(s, evaluating=None)))
        board = self._report(state)
        self.say(progress_line(board, label, folder.name, self.clock() - started))
        for tracker in self.trackers if board else ():
            tracker.log(board)
        return None

    def _forget(self, name: str) -> bool:
        """A folder gone before it was evaluated: its begun RUN_DIR leaves the series (True);
        False while another watcher still evaluates it (from memory: it may well finish)."""
        with try_file_lock(self.plan.root / LOCKS / f"{name}.lock") as claimed:
            if not claimed or name in self._state().evaluated:
                return False
            forget_checkpoint(self.plan.root, str(self.plan.train_dir / name))
            return True

    def _skip(self, name: str, why: str) -> None:
        forget_checkpoint(self.plan.root, str(self.plan.train_dir / name))  # recorded before it failed
        self._update(lambda s: s.skipped.__setitem__(name, why))
        self.say(f"skipped {name}: {why}")

    def _finished(self, folders: list[tuple[int, Path]], state: WatchState,
                  pending: list[tuple[int, Path]]) -> bool:
        if pending:
            return False
        steps = [step for step, _ in folders] + [parse_step(n) for n in (*state.evaluated, *state.skipped)]
        until = self.plan.until_step
        if until is not None and any(s is not None and s >= until for s in steps):
            return True
        return final_model_ready(self.plan.train_dir)

    def _finish(self, state: WatchState) -> None:
        self._report(state)
        self.say(state_line(state) + f" Report: {self.plan.report_dir / 'index.html'}")

    def _state(self) -> WatchState:
        return read_watch_state(self.plan.root) or WatchState(train_dir=str(self.plan.train_dir))

    def _update(self, change: Callable[[WatchState], Any]) -> WatchState:
        return update_watch_state(self.plan.root, str(self.plan.train_dir), change)

    def _report(self, state: WatchState) -> Board | None:
        """Rewrite the report with the watcher's state on top; leaderboard.json's object."""
        if not state.evaluated:
            return None
        present = {folder.name for _, folder in checkpoint_folders(self.plan.train_dir)}
        try:
            report([self.plan.root], self.plan.report_dir, lead=watch_lead(state, present),
                   say=lambda _: None)
        except TucoError as err:
            self.say(f"report not rewritten: {err}")
            return None
        return read_board(self.plan.report_dir / "leaderboard.json")


def progress_line(board: Board | None, label: str, name: str, seconds: float) -> str:
    """`checkpoint-300 (step-300): tiny_mc acc 41.2 · vs base +3.1* · vs step-200 +0.4 · 1m 12s`."""
    elapsed = f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    row = next((r for r in board.rows if r.label == label), None) if board else None
    if row is None:
        return f"{name} ({label}) evaluated in {elapsed}"
    column, cell = next(iter((row.groups or row.tasks).items()))
    parts = [f"{name} ({label}): {column} {cell.metric} {100 * cell.score:.1f}"]
    labels = [r.label for r in board.rows]
    previous = labels[labels.index(label) - 1] if labels.index(label) > 0 else None
    for family, other in (("base", "base"), ("adjacent", previous)):
        if family == "adjacent" and other == "base":
            continue  # the first checkpoint's previous row is the base: said already
        pair = next((p for p in board.pairs if p.family == family and p.b == label
                     and p.a == other and p.task == column), None)
        if pair is not None:
            star = "*" if pair.significant else ""
            parts.append(f"vs {other} {100 * pair.diff:+.1f}{star}")
    return " · ".join([*parts, elapsed])


def _set(state: WatchState, **values: Any) -> None:
    for key, value in values.items():
        setattr(state, key, value)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if isinstance(err, TucoError) else f"{type(err).__name__}: {text}"

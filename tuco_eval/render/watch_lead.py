"""The section a watched training run's page opens on: the watcher's state and each checkpoint
folder's fate (evaluated, deleted before evaluation, skipped), from ROOT/watch.json."""

from __future__ import annotations

from collections.abc import Collection

from markupsafe import Markup

from tuco_eval.records.watch_json import WatchState, step_key
from tuco_eval.render.html_page import Table, render
from tuco_eval.render.html_report import Lead

REFRESH_SECONDS = 30


def state_line(state: WatchState) -> str:
    """One line: evaluating, waiting (for what), finished or stopped."""
    if state.status == "finished":
        return f"Finished: {len(state.evaluated)} checkpoint(s) evaluated."
    if state.status == "stopped":
        return f"Stopped after {len(state.evaluated)} checkpoint(s); rerun the same command to go on."
    if state.evaluating:
        return f"Evaluating {state.evaluating}."
    if state.waiting_for:
        return f"Waiting for {state.waiting_for}."
    last = max(state.evaluated, key=step_key, default=None)
    return f"Waiting for the next checkpoint after {last}." if last else "Waiting for the first checkpoint."


def watch_lead(state: WatchState, present: Collection[str]) -> Lead:
    """The Lead of `pipeline.report.report` for a watched run; `present` names the checkpoint
    folders on disk now (an evaluated one that is gone was deleted by the trainer since)."""
    rows = [
        [name, label, "evaluated" + ("" if name in present else "; deleted by the trainer since, results kept")]
        for name, label in state.evaluated.items()
    ]
    rows += [[name, "", "not evaluated: deleted by the trainer before it could be"] for name in state.missed]
    rows += [[name, "", f"skipped: {why}"] for name, why in state.skipped.items()]
    rows.sort(key=lambda row: step_key(row[0]))
    refresh = REFRESH_SECONDS if state.status == "watching" else None
    html = render("watch_lead.html.j2", state_line=state_line(state), train_dir=state.train_dir,
                  updated=state.updated.replace("T", " "), refresh=refresh,
                  table=Table(headers=["checkpoint folder", "row", "state"], rows=rows),
                  verb="Watching" if state.status == "watching" else "Watched")
    return Lead("Training run", Markup(html), heading="TuCo: a training run", refresh_seconds=refresh)

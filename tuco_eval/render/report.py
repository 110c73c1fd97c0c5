"""The report's files drawn from its model (`tuco_eval.records.report.Report`): the leaderboard
tables and leaderboard.json, the paired tests (pairs.csv), per-task tables, plots, flips.csv,
the mode comparisons and index.html. Nothing here computes a figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tuco_eval.records.report import KNOWN_GROUPS, AlphaCurve, Report, Run
from tuco_eval.render import plots
from tuco_eval.render.html_report import Lead, write_report_page
from tuco_eval.render.mode_tables import write_mode_reports
from tuco_eval.render.report_tables import flips_csv, write_board, write_tables
from tuco_eval.util.files import atomic_write_text, file_stems


def _panels(runs: Sequence[Run], tasks: Sequence[str], mixed: bool) -> list[tuple[str, list[plots.Curve]]]:
    # mixed: the runs' tasks use different metrics, so each panel names its own
    def title(task: str) -> str:
        run = next(r for r in runs if task in r.cv.tasks)
        return f"{task} ({run.cv.row_metric(task)})" if mixed else task

    return [
        (title(task), [plots.curve_from(run.label, AlphaCurve.of(run.cv.tasks[task]))
                       for run in runs if task in run.cv.tasks])
        for task in tasks
    ]


def _figure_sets(model: Report) -> list[tuple[str, str, list[str]]]:
    """(file name part, title, tasks) per figure: a figure per group, else tasks in chunks."""
    runs = model.runs
    groups: dict[str, list[str]] = {}
    for run in runs:
        for group, g in run.cv.groups.items():
            groups.setdefault(group, []).extend(t for t in g.tasks if t not in groups.get(group, []))
    if not groups:
        groups = {"tasks": sorted({t for run in runs for t in run.cv.tasks})}
    sets = []
    names = model.columns if runs[0].cv.groups else list(groups)
    stems = file_stems(names)
    for group in names:
        members = groups.get(group, [])
        chunks = [members[i : i + plots.MAX_PANELS] for i in range(0, len(members), plots.MAX_PANELS)]
        for i, chunk in enumerate(chunks):
            part = f" ({i + 1}/{len(chunks)})" if len(chunks) > 1 else ""
            suffix = f"_{i + 1}" if len(chunks) > 1 else ""
            sets.append((f"{stems[group]}{suffix}", f"{KNOWN_GROUPS.get(group, group)}{part}", chunk))
    return sets


def write_plots(model: Report, out_dir: Path) -> list[Path]:
    """accuracy_vs_alpha_*.{png,svg} per group (or task chunk) and heatmap_<label>.{png,svg} per run."""
    runs, metric = model.runs, model.metric or "score"  # tasks of different metrics: panels name theirs
    files: list[Path] = []
    grouped = [r for r in runs if r.cv.groups]
    if grouped:
        group_names = [c for c in model.columns if any(c in r.cv.groups for r in grouped)]
        panels = [
            (KNOWN_GROUPS.get(g, g),
             [plots.curve_from(r.label, model.group_curves[r.label][g]) for r in runs if g in r.cv.groups])
            for g in group_names
        ]
        title = f"{plots.metric_name(metric)} versus α, mean over each group's tasks"
        files += plots.accuracy_vs_alpha(panels, title, metric, out_dir / "accuracy_vs_alpha_groups")
    for name, title, tasks in _figure_sets(model):
        files += plots.accuracy_vs_alpha(
            _panels(runs, tasks, model.metric is None),
            f"{title}: {plots.metric_name(metric)} versus α",
            metric,
            out_dir / f"accuracy_vs_alpha_{name}",
        )
    stems = file_stems(run.label for run in runs)  # labels may hold dots, slashes, case twins
    for run in runs:
        curves = {name: AlphaCurve.of(row) for name, row in run.cv.tasks.items()}
        files += plots.heat_map(run.label, curves, metric, out_dir / f"heatmap_{stems[run.label]}")
    return files


def write_series(model: Report, out_dir: Path) -> list[Path]:
    """checkpoint_series.{png,svg}: score, cross-validated score and mean TuCo against training
    step, one line per leaderboard column; only where at least two checkpoints have a step."""
    series = model.series
    if series is None:
        return []

    def array(values: Sequence[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    lines = [
        plots.Series(
            name=KNOWN_GROUPS.get(line.name, line.name),
            steps=np.array(series.steps, dtype=np.float64),
            score=array(line.score),
            score_cv=array(line.score_cv),
            tuco=array(line.tuco),
            base=line.base,
            significant=np.array(line.significant),
        )
        for line in series.lines
    ]
    title = f"Checkpoints by training step, per {series.kind}"
    metric = model.board.metric or "score"
    return plots.checkpoint_series(lines, title, metric, out_dir / "checkpoint_series", series.compared)


def write_report(model: Report, out_dir: Path, lead: Lead | None = None) -> list[Path]:
    """Every file of the report into ``out_dir``; `lead` is a section index.html opens on."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    swept = bool(model.runs)  # lm-eval runs alone: no α, so no α tables, curves or flips
    files = (
        (write_tables(model, out_dir) if swept else [])
        + write_board(model.board, out_dir)
        + (write_plots(model, out_dir) if swept else [])
        + write_series(model, out_dir)
        + write_mode_reports(model, out_dir)  # RUN_DIRs swept in several modes
    )
    flips = {label: run_flips.flips for label, run_flips in model.flips.items()}
    files.append(atomic_write_text(out_dir / "flips.csv", flips_csv(flips)))
    return [*files, write_report_page(model, out_dir, files, lead)]

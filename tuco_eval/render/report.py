"""Leaderboard tables, leaderboard.json, paired tests and plots for RUN_DIRs and ROOTs (one
fine-tuned checkpoint per RUN_DIR, and the base model alone where a ROOT has it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from tuco_eval.analysis import flips
from tuco_eval.analysis.checkpoint_board import board_cell, board_columns, build_board
from tuco_eval.analysis.checkpoint_rows import BASE, resolve_rows
from tuco_eval.analysis.leaderboard import (
    KNOWN_GROUPS,
    Run,
    column_kind,
    corrected_runs,
    leaderboard_columns,
    load_runs,
    runs_metric,
)
from tuco_eval.analysis.lm_eval_sweep import gather_alpha_sweeps
from tuco_eval.analysis.run_cv import row_metric
from tuco_eval.render import plots
from tuco_eval.render.html_report import Lead, write_report_page
from tuco_eval.render.mode_tables import write_mode_reports
from tuco_eval.render.report_tables import flips_csv, write_board, write_tables
from tuco_eval.stats.multiplicity import DEFAULT_CORRECTION
from tuco_eval.util.errors import TucoError
from tuco_eval.util.files import atomic_write_text, file_stems

ALPHA_SWEEPS = "lm_eval_alpha_sweeps"  # where report gathers lm-eval α runs into RUN_DIRs


def _panels(runs: Sequence[Run], tasks: Sequence[str]) -> list[tuple[str, list[plots.Curve]]]:
    mixed = runs_metric(runs) is None  # each panel then names its metric

    def title(task: str) -> str:
        run = next(r for r in runs if task in r.cv["tasks"])
        return f"{task} ({row_metric(run.cv, run.cv['tasks'][task])})" if mixed else task

    return [
        (
            title(task),
            [
                plots.curve_from(run.label, run.cv["tasks"][task])
                for run in runs
                if task in run.cv["tasks"]
            ],
        )
        for task in tasks
    ]


def _figure_sets(runs: Sequence[Run]) -> list[tuple[str, str, list[str]]]:
    """(file name part, title, tasks) per figure: a figure per group, else tasks in chunks."""
    groups: dict[str, list[str]] = {}
    for run in runs:
        for group, g in run.cv["groups"].items():
            groups.setdefault(group, []).extend(
                t for t in g["tasks"] if t not in groups.get(group, [])
            )
    if not groups:
        groups = {"tasks": sorted({t for run in runs for t in run.cv["tasks"]})}
    sets = []
    names = leaderboard_columns(runs) if runs[0].cv["groups"] else list(groups)
    stems = file_stems(names)
    for group in names:
        members = groups.get(group, [])
        chunks = [
            members[i : i + plots.MAX_PANELS] for i in range(0, len(members), plots.MAX_PANELS)
        ]
        for i, chunk in enumerate(chunks):
            part = f" ({i + 1}/{len(chunks)})" if len(chunks) > 1 else ""
            suffix = f"_{i + 1}" if len(chunks) > 1 else ""
            sets.append(
                (f"{stems[group]}{suffix}", f"{KNOWN_GROUPS.get(group, group)}{part}", chunk)
            )
    return sets


def write_plots(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """accuracy_vs_alpha_*.{png,svg} per group (or task chunk) and heatmap_<label>.{png,svg} per run."""
    metric = runs_metric(runs) or "score"  # tasks of different metrics: panels name theirs
    files: list[Path] = []
    if any(run.cv["groups"] for run in runs):
        group_names = leaderboard_columns([r for r in runs if r.cv["groups"]])
        panels = [
            (
                KNOWN_GROUPS.get(g, g),
                [
                    plots.curve_from(r.label, _group_curve(r, g))
                    for r in runs
                    if g in r.cv["groups"]
                ],
            )
            for g in group_names
        ]
        title = f"{plots.metric_name(metric)} versus α, mean over each group's tasks"
        files += plots.accuracy_vs_alpha(
            panels, title, metric, out_dir / "accuracy_vs_alpha_groups"
        )
    for name, title, tasks in _figure_sets(runs):
        files += plots.accuracy_vs_alpha(
            _panels(runs, tasks),
            f"{title}: {plots.metric_name(metric)} versus α",
            metric,
            out_dir / f"accuracy_vs_alpha_{name}",
        )
    stems = file_stems(run.label for run in runs)  # labels may hold dots, slashes, case twins
    for run in runs:
        files += plots.heat_map(
            run.label, run.cv["tasks"], metric, out_dir / f"heatmap_{stems[run.label]}"
        )
    return files


def _group_curve(run: Run, group: str) -> dict:
    # mean over member tasks at each alpha, like the group's Δ_CV
    members = [run.cv["tasks"][t]["acc_by_alpha"] for t in run.cv["groups"][group]["tasks"]]
    alphas = sorted(set.intersection(*(set(m) for m in members)), key=float)
    means = {a: sum(m[a] for m in members) / len(members) for a in alphas}
    return {"acc_by_alpha": means, "delta_cv": run.cv["groups"][group]["delta_cv"]}


def write_series(board: Mapping, runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """checkpoint_series.{png,svg}: score, cross-validated score and mean TuCo against training
    step, one line per leaderboard column (a group, or a task of a run without groups); only
    where at least two checkpoints have a step."""
    rows = [r for r in board["rows"] if r["kind"] != BASE and r["step"] is not None]
    columns = board_columns(board, leaderboard_columns(runs))
    if len(rows) < 2:
        return []
    base = next((r for r in board["rows"] if r["kind"] == BASE), None)

    def values(name: str, key: str) -> np.ndarray:
        cells = [(board_cell(r, name) or {}).get(key) for r in rows]
        return np.array([np.nan if v is None else v for v in cells], dtype=np.float64)

    # a checkpoint's marker is filled where it differs significantly from the base (else from the
    # row before it), after the report's correction, in whichever family tested that pair
    order = [r["label"] for r in board["rows"]]
    compared_to = {r["label"]: base["label"] if base else (order[order.index(r["label"]) - 1]
                                                            if order.index(r["label"]) else None)
                   for r in rows}
    significant: dict[tuple[str, str], bool] = {}
    for pair in sorted(board["pairs"], key=lambda p: ("base", "adjacent", "all").index(p["family"])):
        if compared_to.get(pair["b"]) == pair["a"]:
            significant.setdefault((pair["task"], pair["b"]), pair["significant"])
    series = [
        plots.Series(
            name=KNOWN_GROUPS.get(name, name),
            steps=np.array([r["step"] for r in rows], dtype=np.float64),
            score=values(name, "score"),
            score_cv=values(name, "score_cv"),
            tuco=values(name, "tuco"),
            base=(board_cell(base, name) or {}).get("score") if base else None,
            significant=np.array([significant.get((name, r["label"]), False) for r in rows]),
        )
        for name in columns
    ]
    metric = board["metric"] or "score"
    kind = column_kind(runs) if runs else ("group" if any(r["groups"] for r in rows) else "task")
    title = f"Checkpoints by training step, per {kind}"
    compared = "the base" if base else "the previous checkpoint"
    return plots.checkpoint_series(series, title, metric, out_dir / "checkpoint_series", compared)


def report(
    run_dirs: Sequence[Path],
    out_dir: Path,
    lead: Lead | None = None,
    labels: Sequence[str] | None = None,
    pairs: Sequence[str] | None = None,
    allow_different_prompts: bool = False,
    say: Callable[[str], None] = print,
    correction: str = DEFAULT_CORRECTION,
    cluster_key: str | None = None,
) -> list[Path]:
    """Write the leaderboard (tables, leaderboard.json), the paired tests (pairs.csv), per-task
    tables, plots, flips.csv and index.html into ``out_dir``. ``run_dirs`` are RUN_DIRs, ROOTs and
    lm-eval output folders in any mix (tuco_eval.analysis.checkpoint_rows; ``labels`` names the
    lm-eval runs); `lead` is a section index.html opens on (see html_report.Lead); `pairs` the
    families of paired tests (analysis.paired.FAMILIES; None: the default for these rows); every
    star follows ``correction`` (analysis.multiplicity) across the report's tasks; ``cluster_key``
    names a doc field clustering every task's docs (else each task's own); ``say`` hears
    which of several lm-eval runs is read and which rows' prompts could not be checked."""
    if not run_dirs:
        raise TucoError("give at least one RUN_DIR, ROOT or lm-eval output folder")
    out_dir = Path(out_dir)
    # a pair's tuco_scaled runs at several α: one swept row, gathered beside the report
    entries = gather_alpha_sweeps(resolve_rows(run_dirs, labels, say), out_dir / ALPHA_SWEEPS)
    checkpoints = [e for e in entries if e.kind != BASE and e.lm_eval is None]  # the α sweeps
    runs = load_runs([e.run_dir for e in checkpoints], labels=[e.label for e in checkpoints],
                     cluster_key=cluster_key)
    runs = corrected_runs(runs, correction)  # every star after the correction across tasks
    board = build_board(entries, runs, pairs, allow_different_prompts, correction, cluster_key)
    if board["prompts"]["unchecked"]:
        say(f"prompts could not be checked for {', '.join(board['prompts']['unchecked'])} (swept "
            "before tuco-eval stored each doc's prompt hash); their settings were compared")
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = file_stems(run.label for run in runs)
    swept = runs or None  # lm-eval runs alone: no α, so no α tables, curves or flips
    files = (
        (write_tables(runs, out_dir) if swept else [])
        + write_board(board, out_dir)
        + (write_plots(runs, out_dir) if swept else [])
        + write_series(board, runs, out_dir)
        # RUN_DIRs swept in several modes
        + write_mode_reports([(r.run_dir, stems[r.label]) for r in runs], out_dir)
    )
    flips_by_run = run_flips(runs)
    files.append(
        atomic_write_text(
            out_dir / "flips.csv",
            flips_csv({label: found for label, (_, found) in flips_by_run.items()}),
        )
    )
    lm_eval_runs = {e.label: e.lm_eval for e in entries if e.lm_eval is not None}
    return [*files, write_report_page(runs, out_dir, files, flips_by_run, board, lead, lm_eval_runs)]


def run_flips(runs: Sequence[Run]) -> dict[str, tuple[dict[str, list[float]], list[flips.Flip]]]:
    """Per run: {task: the α's compared with α = 1} and the docs that flip, on the cv metric."""
    out = {}
    for run in runs:
        cfg, alphas_of, found = run.cv["config"], {}, []
        for name, result in run.cv["tasks"].items():
            grid = [float(a) for a in result["acc_by_alpha"]]
            task, key = result.get("task", name), result.get("key") or row_metric(run.cv, result)
            alphas_of[name], task_found = flips.task_flips(
                run.run_dir, task, key, cfg["objective"], alphas=grid, row=name
            )
            found += task_found
        out[run.label] = (alphas_of, found)
    return out

"""Report pages for a RUN_DIR swept in several modes: a comparison table and accuracy-vs-α plots,
and the table `tuco-eval cv` prints for it (`records.report.ModeReport`)."""

from __future__ import annotations

from pathlib import Path

from tuco_eval.records.report import ModeReport, Report
from tuco_eval.render import plots, tables
from tuco_eval.render.cv_tables import points
from tuco_eval.util.files import atomic_write_text, file_stems


def mode_panels(view: ModeReport) -> list[tuple[str, list[plots.Curve]]]:
    """One panel per task, one curve per mode, the per-mode α choices of every fold as stars."""
    return [
        (task.name, [plots.curve_from(mode, task.curves[mode]) for mode in view.modes])
        for task in view.tasks
    ]


def write_mode_reports(model: Report, out_dir: Path) -> list[Path]:
    """modes_<stem>.{md,csv} and accuracy_vs_alpha_modes_<stem>[_k].{png,svg} per multi-mode
    RUN_DIR of the report (stem: its row's unique file stem, `files.file_stems`)."""
    stems = file_stems(run.label for run in model.runs)
    files: list[Path] = []
    for view in model.modes:
        name = stems[view.run]
        metric = view.metric or "score"  # tasks of different metrics: a neutral name
        headers, rows = modes_table(view)
        files += [
            atomic_write_text(
                out_dir / f"modes_{name}.md",
                f"# Scaling modes compared: {view.label}\n\n{_note(view, metric)}\n\n"
                + tables.markdown(headers, rows),
            ),
            atomic_write_text(out_dir / f"modes_{name}.csv", tables.csv_text(headers, rows)),
        ]
        panels = mode_panels(view)
        chunks = [panels[i : i + plots.MAX_PANELS] for i in range(0, len(panels), plots.MAX_PANELS)]
        for i, chunk in enumerate(chunks):
            suffix = f"_{i + 1}" if len(chunks) > 1 else ""
            files += plots.accuracy_vs_alpha(
                chunk,
                f"{view.label}: {plots.metric_name(metric)} versus α, one line per mode",
                metric,
                out_dir / f"accuracy_vs_alpha_modes_{name}{suffix}",
            )
    return files


def _note(view: ModeReport, metric: str) -> str:
    return (
        f"Each mode's α is cross-validated on the same {view.folds} folds (seed {view.seed}); "
        f"'CV (Δ)' is the {plots.metric_name(metric)} at the chosen α (×100) and its gain "
        f"over α = 1. 'a - b' is the mean per-doc difference of the two modes' CV scores in points, "
        f"* = paired sign-flip p, after Benjamini–Hochberg across every task and pair of modes, "
        f"< {view.significance_level}."
    )


def modes_table(view: ModeReport) -> tuple[list[str], list[list[str]]]:
    """Per task: each mode's CV score (Δ CV vs its α=1), then each pair's difference (* = significant)."""
    metric = view.metric
    per_row = metric is None  # tasks scored with different metrics: a metric column
    pair_names = list(view.tasks[0].pairs) if view.tasks else []
    headers = ["Task", "n", *(["metric"] if per_row else []), f"{metric} α=1" if metric else "α=1"]
    headers += [*(f"{m} CV (Δ)" for m in view.modes), *pair_names, "best"]
    rows = []
    for task in view.tasks:
        cells = [
            f"{points(task.modes[m]['acc_cv'])} ({points(task.modes[m]['delta_cv'], True)})"
            for m in view.modes
        ]
        pairs = [
            f"{points(p['diff'], True)}{'*' if task.significant[name] else ''} (p {p['p_value']:.3f})"
            for name, p in task.pairs.items()
        ]
        metric_cell = [task.metric] if per_row else []
        rows.append([task.name, str(task.n), *metric_cell, points(task.acc_alpha1), *cells, *pairs, task.best])
    return headers, rows


def format_modes_table(view: ModeReport) -> str:
    """The Markdown table printed by `tuco-eval cv` for a RUN_DIR with several modes."""
    note = (
        f"{view.label}: modes {', '.join(view.modes)} with the same {view.folds} folds "
        f"(seed {view.seed}); values x100; 'a - b' = mean per-doc difference of CV scores, "
        f"* = paired sign-flip p, after Benjamini–Hochberg across every task and pair of modes, "
        f"< {view.significance_level}"
    )
    return "\n".join([note, "", tables.markdown(*modes_table(view))])

"""Leaderboard tables and plots for one or more RUN_DIRs (one fine-tuned checkpoint each)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tuco_eval import flips, plots, tables
from tuco_eval.cv import group_table, row_metric, task_table
from tuco_eval.errors import TucoError
from tuco_eval.html_report import Lead, write_report_page
from tuco_eval.jsonl import atomic_write_text, file_slug
from tuco_eval.leaderboard import (
    KNOWN_GROUPS,
    Run,
    explanation,
    leaderboard,
    leaderboard_columns,
    leaderboard_csv,
    load_runs,
    runs_metric,
)
from tuco_eval.modes.report import write_mode_reports


def _task_csv(runs: Sequence[Run]) -> str:
    headers = [
        "checkpoint",
        "task",
        "metric",
        "n",
        "acc_alpha1",
        "acc_cv",
        "delta_cv",
        "ci95_low",
        "ci95_high",
        "p_value",
        "significant",
        "alphas_chosen",
    ]
    rows = [
        [
            run.label,
            task,
            row_metric(run.cv, r),
            str(r["n"]),
            repr(r["acc_alpha1"]),
            repr(r["acc_cv"]),
            repr(r["delta_cv"]),
            repr(r["ci95"][0]),
            repr(r["ci95"][1]),
            repr(r["p_value"]),
            str(r["significant"]).lower(),
            " ".join(map(repr, r["alphas_chosen"])),
        ]
        for run in runs
        for task, r in run.cv["tasks"].items()
    ]
    return tables.csv_text(headers, rows)


def _task_markdown(runs: Sequence[Run]) -> str:
    parts = [
        "# Per-task cross-validation results",
        "",
        "Values ×100; Δ CV in points with its paired-bootstrap 95% CI; * = significant gain.",
        "",
    ]
    for run in runs:
        parts += [f"## {run.label}", "", tables.markdown(*task_table(run.cv))]
        if run.cv["groups"]:
            parts += [tables.markdown(*group_table(run.cv))]
    return "\n".join(parts)


def comparison(runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
    """Δ_CV (points, * = significant) of every task, a column per checkpoint."""
    tasks = sorted({task for run in runs for task in run.cv["tasks"]})
    rows = []
    for task in tasks:
        cells = [run.cv["tasks"].get(task) for run in runs]
        rows.append(
            [
                task,
                *(
                    "–" if r is None else f"{100 * r['delta_cv']:+.2f}" + "*" * r["significant"]
                    for r in cells
                ),
            ]
        )
    return ["Task", *(run.label for run in runs)], rows


def write_tables(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """leaderboard.{md,tex,csv}, tasks.{md,tex,csv} and, for several runs, comparison.{md,csv}."""
    headers, rows = leaderboard(runs)
    note = explanation(runs)
    files = [
        atomic_write_text(
            out_dir / "leaderboard.md",
            f"# TuCo leaderboard\n\n{note}\n\n{tables.markdown(headers, rows)}",
        ),
        atomic_write_text(out_dir / "leaderboard.tex", tables.latex(headers, rows, caption=note)),
        atomic_write_text(out_dir / "leaderboard.csv", leaderboard_csv(runs)),
        atomic_write_text(out_dir / "tasks.md", _task_markdown(runs)),
        atomic_write_text(
            out_dir / "tasks.tex",
            "".join(
                tables.latex(*task_table(r.cv), caption=f"{r.label}: per-task results (×100)")
                for r in runs
            ),
        ),
        atomic_write_text(out_dir / "tasks.csv", _task_csv(runs)),
    ]
    if len(runs) > 1:
        files += [
            atomic_write_text(
                out_dir / "comparison.md",
                "# Δ CV per task and checkpoint (points, * = significant)\n\n"
                + tables.markdown(*comparison(runs)),
            ),
            atomic_write_text(out_dir / "comparison.csv", tables.csv_text(*comparison(runs))),
        ]
    return files


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
    for group in leaderboard_columns(runs) if runs[0].cv["groups"] else list(groups):
        members = groups.get(group, [])
        chunks = [
            members[i : i + plots.MAX_PANELS] for i in range(0, len(members), plots.MAX_PANELS)
        ]
        for i, chunk in enumerate(chunks):
            part = f" ({i + 1}/{len(chunks)})" if len(chunks) > 1 else ""
            suffix = f"_{i + 1}" if len(chunks) > 1 else ""
            sets.append(
                (f"{file_slug(group)}{suffix}", f"{KNOWN_GROUPS.get(group, group)}{part}", chunk)
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
    for run in runs:
        files += plots.heat_map(
            run.label, run.cv["tasks"], metric, out_dir / f"heatmap_{file_slug(run.label)}"
        )
    return files


def _group_curve(run: Run, group: str) -> dict:
    # mean over member tasks at each alpha, like the group's Δ_CV
    members = [run.cv["tasks"][t]["acc_by_alpha"] for t in run.cv["groups"][group]["tasks"]]
    alphas = sorted(set.intersection(*(set(m) for m in members)), key=float)
    means = {a: sum(m[a] for m in members) / len(members) for a in alphas}
    return {"acc_by_alpha": means, "delta_cv": run.cv["groups"][group]["delta_cv"]}


def report(run_dirs: Sequence[Path], out_dir: Path, lead: Lead | None = None) -> list[Path]:
    """Write the leaderboard, per-task tables, plots, flips.csv and index.html into ``out_dir``;
    `lead` is a section index.html opens on (see html_report.Lead)."""
    if not run_dirs:
        raise TucoError("give at least one RUN_DIR")
    runs = load_runs(run_dirs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = (
        write_tables(runs, out_dir)
        + write_plots(runs, out_dir)
        + write_mode_reports(run_dirs, out_dir)  # RUN_DIRs swept in several modes
    )
    flips_by_run = run_flips(runs)
    files.append(
        atomic_write_text(
            out_dir / "flips.csv",
            flips.csv_text({label: found for label, (_, found) in flips_by_run.items()}),
        )
    )
    return [*files, write_report_page(runs, out_dir, files, flips_by_run, lead)]


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

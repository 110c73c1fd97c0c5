"""The runs a report compares: each RUN_DIR with its cached CV result, and the leaderboard.

The paper's Table 3: a row per checkpoint, a column per group (or task), Δ_CV in points with the
share of tasks whose gain is significant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tuco_eval import tables
from tuco_eval.cv import (
    CV_FILE,
    WEIGHTED_LABEL,
    cross_validate,
    load_cached,
    row_metric,
    shared_metric,
)
from tuco_eval.errors import TucoError
from tuco_eval.plots import metric_name
from tuco_eval.store import read_run_info, store_fingerprint

# the paper's Table 3 columns, in its order
KNOWN_GROUPS = {
    "tuco_mmlu_humanities": "Humanities",
    "tuco_mmlu_stem": "STEM",
    "tuco_mmlu_social_sciences": "Social Sciences",
    "tuco_mmlu_other": "Other",
    "tuco_behavior_morality": "Morality",
    "tuco_behavior_political": "Political",
    "tuco_behavior_religion": "Religious",
    "tuco_behavior_personality": "Personality",
    "tuco_behavior_desires": "Desires",
}
CV_SETTINGS = ("folds", "objective", "seed", "metric", "n_boot")


@dataclass(frozen=True)
class Run:
    """One RUN_DIR with its cross-validation result; ``label`` names the checkpoint in tables."""

    label: str
    run_dir: Path
    cv: Mapping

    @property
    def columns(self) -> dict[str, dict]:
        """Leaderboard cells: the run's groups, or its tasks when it has no groups."""
        if self.cv["groups"]:
            return dict(self.cv["groups"])
        return {
            task: {
                "delta_cv": r["delta_cv"],
                "share_significant": float(r["significant"]),
                "n_tasks": 1,
                "ci95": r["ci95"],
                "significant": r["significant"],
            }
            for task, r in self.cv["tasks"].items()
        }


def load_cv(run_dir: Path) -> dict:
    """RUN_DIR/cv.json, recomputed (same settings) when missing, unreadable or older than the store."""
    read_run_info(run_dir)  # a clear error for a wrong path, before anything else
    return load_cached(
        run_dir / CV_FILE, store_fingerprint(run_dir), lambda **settings: cross_validate(run_dir, **settings)
    )


def load_runs(run_dirs: Sequence[Path], labels: Sequence[str] | None = None) -> list[Run]:
    """Runs with unique labels: ``labels`` when given, else each cv label with the folder name
    appended to a repeated one."""
    runs: list[Run] = []
    for i, run_dir in enumerate(map(Path, run_dirs)):
        result = load_cv(run_dir)
        label = labels[i] if labels else result["config"].get("label") or run_dir.name
        if any(r.label == label for r in runs):
            label = f"{label} [{run_dir.name}]"
        runs.append(Run(label=label, run_dir=run_dir, cv=result))
    objectives = {r.cv["config"]["objective"] for r in runs}
    if len(objectives) > 1:
        raise TucoError(
            f"the runs were cross-validated with different objectives {sorted(objectives)}; rerun `tuco-eval cv` with one"
        )
    check_row_metrics(runs)
    return runs


def check_row_metrics(runs: Sequence[Run]) -> None:
    """A task or group present in several runs must have the same metric in each."""
    seen: dict[str, tuple[str, str]] = {}
    for run in runs:
        for name, row in [*run.cv["tasks"].items(), *run.cv["groups"].items()]:
            metric = row_metric(run.cv, row)
            label, first = seen.setdefault(name, (run.label, metric))
            if first != metric:
                raise TucoError(
                    f"{name} was cross-validated with {first} in {label} but with {metric} in "
                    f"{run.label}; rerun `tuco-eval cv` on them with one --metric"
                )


def runs_metric(runs: Sequence[Run]) -> str | None:
    """The one metric every run was cross-validated on, or None when they differ."""
    metrics = {shared_metric(run.cv) for run in runs}
    return metrics.pop() if len(metrics) == 1 else None


def leaderboard_columns(runs: Sequence[Run]) -> list[str]:
    """The paper's groups in its order, then other groups / tasks alphabetically."""
    present = {name for run in runs for name in run.columns}
    return [g for g in KNOWN_GROUPS if g in present] + sorted(present - KNOWN_GROUPS.keys())


def _cell(column: Mapping | None) -> str:
    if column is None:
        return "–"
    return f"{100 * column['delta_cv']:+.2f} ({100 * column['share_significant']:.0f}%)"


def leaderboard(runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
    """Table 3 of the paper: a row per checkpoint, Δ_CV (points) and share of significant tasks."""
    columns = leaderboard_columns(runs)
    headers = ["Checkpoint", *(KNOWN_GROUPS.get(c, c) for c in columns)]
    rows = [[run.label, *(_cell(run.columns.get(c)) for c in columns)] for run in runs]
    return headers, rows


def leaderboard_csv(runs: Sequence[Run]) -> str:
    """The leaderboard with plain numbers: two columns per group (Δ_CV in points, share)."""
    columns = leaderboard_columns(runs)
    headers = ["checkpoint"]
    for c in columns:
        headers += [f"{c}:delta_cv_points", f"{c}:share_significant"]
    rows = []
    for run in runs:
        row = [run.label]
        for c in columns:
            cell = run.columns.get(c)
            row += (
                ["", ""]
                if cell is None
                else [f"{100 * cell['delta_cv']:.4f}", f"{cell['share_significant']:.4f}"]
            )
        rows.append(row)
    return tables.csv_text(headers, rows)


def explanation(runs: Sequence[Run]) -> str:
    """The leaderboard's caption: what a cell means, with the runs' CV settings."""
    cfg = runs[0].cv["config"]
    metric = runs_metric(runs)
    name = metric_name(metric) if metric else "the task's metric (tasks.md names it)"
    sense = "" if cfg["objective"] == "max" else " (lower is better, so a gain is negative)"
    weighted = any(g.get("weighted_by_size") for run in runs for g in run.cv["groups"].values())
    return (
        f"Cells: Δ_CV = {name} at the cross-validated α minus {name} at α=1, in points (×100){sense}, "
        f"mean over the group's tasks; in parentheses the share of tasks with a significant gain "
        f"(paired sign-flip test, p < {cfg['significance_level']}). {cfg['folds']}-fold CV, seed {cfg['seed']}."
    ) + (
        f" tasks.md also gives, for the groups lm-eval averages weighted by size, the figure "
        f"'{WEIGHTED_LABEL}'."
        if weighted
        else ""
    )



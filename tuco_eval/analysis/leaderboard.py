"""The runs a report compares: each RUN_DIR with its cached CV result, and the leaderboard.

The paper's Table 3: a row per checkpoint, a column per group (or task), Δ_CV in points with the
share of tasks whose gain is significant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tuco_eval.analysis.run_cv import (
    CV_FILE,
    CV_SETTINGS,
    cross_validate,
    load_cached,
    row_metric,
    shared_metric,
)
from tuco_eval.stats.cv import TooFewForFolds
from tuco_eval.stats.multiplicity import DEFAULT_CORRECTION
from tuco_eval.stats.significance import corrected_cv
from tuco_eval.store.run_json import read_run_info
from tuco_eval.store.units import store_fingerprint
from tuco_eval.util.errors import TucoError

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
                **{k: r[k] for k in ("p_value", "p_adjusted", "mde") if k in r},
            }
            for task, r in self.cv["tasks"].items()
        }


def cell_interval(column: Mapping) -> tuple[tuple[float, float] | None, bool]:
    """(95% interval of E[Δ_CV], significant after the report's correction) of a leaderboard cell
    (`Run.columns`): a task's or a group's own, both from their documents (cv.json)."""
    if "ci95" not in column:
        return None, False
    return (column["ci95"][0], column["ci95"][1]), bool(column.get("significant"))


def corrected_runs(runs: Sequence[Run], method: str = DEFAULT_CORRECTION, level: float = 0.05) -> list[Run]:
    """The runs with every Δ_CV's significance after the correction across all their tasks
    (resp. groups): `significance.corrected_cv`."""
    results = corrected_cv([run.cv for run in runs], method, level)
    return [Run(run.label, run.run_dir, result) for run, result in zip(runs, results, strict=True)]


def load_cv(run_dir: Path, cluster_key: str | None = None) -> dict:
    """RUN_DIR/cv.json, recomputed (same settings) when missing, unreadable or older than the
    store, or when ``cluster_key`` is given and differs from the one it was computed with."""
    read_run_info(run_dir)  # a clear error for a wrong path, before anything else

    def compute(**settings):
        if cluster_key is not None:
            settings["cluster_key"] = cluster_key
        try:
            return cross_validate(run_dir, **settings)
        except TooFewForFolds as err:  # report has no --folds: say where the folds are chosen
            raise TooFewForFolds(f"{run_dir}: {err} (`tuco-eval cv {run_dir} --folds 2` first: report reads "
                                 "its cv.json) or evaluate more docs") from None

    result = load_cached(run_dir / CV_FILE, store_fingerprint(run_dir), compute)
    if cluster_key is not None and result["config"].get("cluster_key") != cluster_key:
        settings = {k: result["config"].get(k) for k in CV_SETTINGS}
        return compute(**settings)
    return result


def load_runs(
    run_dirs: Sequence[Path], labels: Sequence[str] | None = None, cluster_key: str | None = None
) -> list[Run]:
    """Runs with unique labels: ``labels`` when given, else each cv label with the folder name
    appended to a repeated one; ``cluster_key`` as `load_cv`."""
    runs: list[Run] = []
    for i, run_dir in enumerate(map(Path, run_dirs)):
        result = load_cv(run_dir, cluster_key)
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


def column_kind(runs: Sequence[Run]) -> str:
    """What the leaderboard's columns are: "group", "task" (no run has groups), or "group or
    task" (runs with and without groups side by side)."""
    grouped = {bool(run.cv["groups"]) for run in runs}
    if len(grouped) == 2:
        return "group or task"
    return "group" if True in grouped else "task"

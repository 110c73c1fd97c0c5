"""The runs a report compares: each RUN_DIR with its cached CV result, and the leaderboard.

The paper's Table 3: a row per checkpoint, a column per group (or task), Δ_CV in points with the
share of tasks whose gain is significant.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tuco_eval.analysis.run_cv import CV_FILE, cross_validate, cv_settings, load_cached
from tuco_eval.records.cv_json import CVResult
from tuco_eval.records.report import KNOWN_GROUPS, Run
from tuco_eval.stats.cv import TooFewForFolds
from tuco_eval.stats.multiplicity import DEFAULT_CORRECTION
from tuco_eval.stats.significance import corrected_cv
from tuco_eval.store.run_json import read_run_info
from tuco_eval.store.units import store_fingerprint
from tuco_eval.util.errors import TucoError


def corrected_runs(runs: Sequence[Run], method: str = DEFAULT_CORRECTION, level: float = 0.05) -> list[Run]:
    """The runs with every Δ_CV's significance after the correction across all their tasks
    (resp. groups): `significance.corrected_cv`."""
    results = corrected_cv([run.cv for run in runs], method, level)
    return [Run(run.label, run.run_dir, result) for run, result in zip(runs, results, strict=True)]


def load_cv(run_dir: Path, cluster_key: str | None = None) -> CVResult:
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
    if cluster_key is not None and result.config.cluster_key != cluster_key:
        return compute(**cv_settings(result.config))
    return result


def load_runs(
    run_dirs: Sequence[Path], labels: Sequence[str] | None = None, cluster_key: str | None = None
) -> list[Run]:
    """Runs with unique labels: ``labels`` when given, else each cv label with the folder name
    appended to a repeated one; ``cluster_key`` as `load_cv`."""
    runs: list[Run] = []
    for i, run_dir in enumerate(map(Path, run_dirs)):
        result = load_cv(run_dir, cluster_key)
        label = labels[i] if labels else result.config.label or run_dir.name
        if any(r.label == label for r in runs):
            label = f"{label} [{run_dir.name}]"
        runs.append(Run(label=label, run_dir=run_dir, cv=result))
    objectives = {r.cv.config.objective for r in runs}
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
        for name in [*run.cv.tasks, *run.cv.groups]:
            metric = run.cv.row_metric(name)
            label, first = seen.setdefault(name, (run.label, metric))
            if first != metric:
                raise TucoError(
                    f"{name} was cross-validated with {first} in {label} but with {metric} in "
                    f"{run.label}; rerun `tuco-eval cv` on them with one --metric"
                )


def runs_metric(runs: Sequence[Run]) -> str | None:
    """The one metric every run was cross-validated on, or None when they differ."""
    metrics = {run.cv.shared_metric() for run in runs}
    return metrics.pop() if len(metrics) == 1 else None


def leaderboard_columns(runs: Sequence[Run]) -> list[str]:
    """The paper's groups in its order, then other groups / tasks alphabetically."""
    present = {name for run in runs for name in run.columns}
    return [g for g in KNOWN_GROUPS if g in present] + sorted(present - KNOWN_GROUPS.keys())


def column_kind(runs: Sequence[Run]) -> str:
    """What the leaderboard's columns are: "group", "task" (no run has groups), or "group or
    task" (runs with and without groups side by side)."""
    grouped = {bool(run.cv.groups) for run in runs}
    if len(grouped) == 2:
        return "group or task"
    return "group" if True in grouped else "task"

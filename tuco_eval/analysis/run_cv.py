"""Cross-validation of a RUN_DIR: every (task, filter) row of its store through `cv`, its groups
through `group_figures`, the result written to RUN_DIR/cv.json and read back from there while the store
is unchanged (docs/formats.md, "cv.json")."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

from tuco_eval.records.cv_json import CV_FORMAT, CVConfig, CVResult, OldFormat, TaskRow
from tuco_eval.stats.cv import (
    SIGNIFICANCE_LEVEL,
    CVError,
    cross_validate_task,
    most_chosen,
    objective_sign,
)
from tuco_eval.stats.group_figures import aggregate_groups
from tuco_eval.store.clusters import store_clusters
from tuco_eval.store.run_json import read_run_info
from tuco_eval.store.task_rows import Row, store_rows, weighted_by_size
from tuco_eval.store.units import (
    list_units,
    score_matrix,
    store_fingerprint,
    task_alphas,
    unit_metrics,
)
from tuco_eval.util.files import atomic_write_json

CV_FILE = "cv.json"


CV_SETTINGS = ("folds", "objective", "seed", "metric", "n_boot", "filter", "cluster_key")  # what a cached result keeps


def run_rows(
    run_dir: Path, info: Mapping, metric: str | None = None, filter: str | None = None
) -> list[Row]:
    """The (task, filter) rows of RUN_DIR (described by ``info``, its run.json), each with its
    task's primary metric unless ``metric`` forces one; checked against the units' manifests."""
    tasks = list(info.tasks or list_units(run_dir))
    if not tasks:
        raise CVError(f"RUN_DIR {run_dir} lists no tasks; run `tuco-eval sweep` first")
    grid = info.alphas or None
    units = {
        t: {a: unit_metrics(run_dir, a, t) for a in (grid or task_alphas(run_dir, t))}
        for t in tasks
    }
    return store_rows(info, tasks, metric, filter, units)


def cross_validate(
    run_dir: Path | str,
    folds: int = 5,
    objective: str = "max",
    seed: int = 0,
    metric: str | None = None,
    n_boot: int = 2000,
    filter: str | None = None,
    cluster_key: str | None = None,
) -> CVResult:
    """Cross-validate every (task, filter) of RUN_DIR, aggregate its groups, write RUN_DIR/cv.json.

    ``metric`` None scores each task with its primary metric; a name forces it for every task.
    ``filter`` keeps only that filter's row of a task with several (`tuco_eval.store.task_rows`).
    ``cluster_key`` names the doc field that clusters every task's docs (else a task's own
    ``metadata.cluster_key``, else none): folds, resamples and permutations then take clusters."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    objective_sign(objective)  # fail before reading the store
    rows = run_rows(run_dir, info, metric, filter)
    grid = info.alphas or None  # None: whatever alphas each task has on disk
    results, draws = {}, {}
    for row in rows:
        matrix = score_matrix(run_dir, row.task, row.key, alphas=grid)
        key, clusters = store_clusters(run_dir, info, row.task, matrix.doc_ids, cluster_key)
        # each row its own random stream: a group's tasks must not share draws
        result, draws[row.name] = cross_validate_task(
            matrix.scores, matrix.alphas, folds, seed, objective, n_boot, clusters,
            stream=zlib.crc32(row.name.encode()),
        )
        results[row.name] = TaskRow(
            **dict(result), cluster_key=key, filter=row.filter, metric=row.metric,
            task=row.task, key=row.key,  # where the row's per-doc scores live: task's records, field `key`
        )
    rows_of: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        rows_of.setdefault(row.task, []).append((row.name, row.filter))
    config = CVConfig(
        format=CV_FORMAT, folds=folds, objective=objective, seed=seed, metric=metric,
        metrics=list(dict.fromkeys(row.metric for row in rows)), n_boot=n_boot, filter=filter,
        cluster_key=cluster_key, significance_level=SIGNIFICANCE_LEVEL,
        label=info.label or run_dir.name, model_args=info.model_args,
        store_fingerprint=store_fingerprint(run_dir),
    )
    result = CVResult(
        config=config,
        tasks=results,
        groups=aggregate_groups(
            results,
            info.groups,
            rows_of,
            lambda group, f, m: weighted_by_size(info, group, m, f),
            draws,
            objective,
            n_boot,
        ),
    )
    atomic_write_json(run_dir / CV_FILE, result.to_json())
    return result


def read_cv(path: Path) -> CVResult:
    """The cv.json at ``path``; OSError when unreadable, ValueError (`OldFormat`) when it is not
    this format's cv.json."""
    return CVResult.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def load_cached(path: Path, fingerprint: str, compute: Callable[..., CVResult]) -> CVResult:
    """The cv.json at `path` when it was computed from this store in this format; else
    `compute(**its settings)` again (also for a file of an older format; `compute()` when the file
    is missing, unreadable or not a cv.json)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return compute()
    try:
        result = CVResult.from_json(data)
    except OldFormat:  # an older layout: redo it with the settings it was computed with
        settings = CVResult.stored_settings(data, CV_SETTINGS)
        return compute() if settings is None else compute(**settings)
    if result.config.store_fingerprint == fingerprint:
        return result
    return compute(**cv_settings(result.config))


def cv_settings(config: CVConfig) -> dict:
    """What a cached result keeps: the settings to compute it again with."""
    return {name: getattr(config, name) for name in CV_SETTINGS}


def chosen_alpha(result: CVResult, row: str) -> float | None:
    """The α cv.json chose for one row: the most chosen over its folds (a group: over its tasks')."""
    entry = result.alpha_rows()[row]
    if isinstance(entry, TaskRow):
        return most_chosen(entry.alphas_chosen)
    return most_chosen([a for t in entry.tasks for a in result.tasks[t].alphas_chosen])

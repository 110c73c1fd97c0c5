"""Cross-validated choice of the fine-tuning scale alpha, exactly as in the TuCo paper.

For each of K folds of the docs, alpha is chosen on the other K-1 folds and scored on the held-out
fold; the out-of-sample score minus the alpha=1 score is the gain Delta_CV. Everything here is a
pure, seeded function of an (alpha x doc) score matrix, except `cross_validate`, which reads a
RUN_DIR and writes its cv.json. See docs/cv.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.model_selection import KFold

from tuco_eval.store.run_json import read_run_info
from tuco_eval.store.task_rows import Row, store_rows, weighted_by_size
from tuco_eval.store.units import (
    format_alpha,
    list_units,
    score_matrix,
    store_fingerprint,
    task_alphas,
    unit_metrics,
)
from tuco_eval.util.errors import TucoError
from tuco_eval.util.files import atomic_write_json

OBJECTIVES = ("max", "min")
SIGNIFICANCE_LEVEL = 0.05
_TIE_TOL = 1e-12  # mean scores this close count as tied (float summation order differs by fold)
_CHUNK = 1 << 22  # resampled values held in memory at once
CV_FORMAT = 3  # cv.json layout: 2 = rows per (task, filter), group figures both ways; 3 = a metric per row
MEAN_LABEL = "mean over tasks"  # the paper's group figure
WEIGHTED_LABEL = "weighted by size (as lm-eval)"  # lm-eval's, for groups that weight by size


CV_FILE = "cv.json"
CV_SETTINGS = ("folds", "objective", "seed", "metric", "n_boot", "filter")  # what a cached result keeps


class CVError(TucoError):
    """Cross-validation cannot run on this input; the message names the fix."""


def objective_sign(objective: str) -> float:
    """+1 for "max", −1 for "min": scores times it are larger when better."""
    if objective not in OBJECTIVES:
        raise CVError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    return 1.0 if objective == "max" else -1.0


def choose_alpha(
    mean_scores: Sequence[float] | np.ndarray,
    alphas: Sequence[float] | np.ndarray,
    objective: str = "max",
) -> int:
    """Index of the best alpha; ties go to the alpha closest to 1.0, then to the smaller alpha."""
    values = objective_sign(objective) * np.asarray(mean_scores, dtype=np.float64)
    grid = np.asarray(alphas, dtype=np.float64)
    best = values.max()
    tied = np.flatnonzero(values >= best - _TIE_TOL * max(1.0, abs(best)))
    # rounded distance: |0.95 - 1| and |1.05 - 1| differ in the last bit but are the same tie
    return int(min(tied, key=lambda i: (round(abs(grid[i] - 1.0), 9), grid[i])))


def fold_test_indices(n_docs: int, folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Held-out doc positions of each fold: sklearn KFold(shuffle=True, random_state=seed)."""
    kfold = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return [test for _, test in kfold.split(np.zeros((n_docs, 1)))]


def out_of_fold(
    scores: np.ndarray, grid: np.ndarray, folds: int, seed: int, objective: str
) -> tuple[list[int], np.ndarray]:
    """The K-fold loop: per fold, the α index chosen on the other folds; per doc, its score there."""
    chosen: list[int] = []
    score_cv = np.empty(scores.shape[1])
    for test in fold_test_indices(scores.shape[1], folds, seed):
        train = np.ones(scores.shape[1], dtype=bool)
        train[test] = False
        best = choose_alpha(scores[:, train].mean(axis=1), grid, objective)
        chosen.append(best)
        score_cv[test] = scores[best, test]
    return chosen, score_cv


def resample_batch(n_values: int) -> int:
    """Resamples per batch of a sample of `n_values` values, so that at most about 4 million
    resampled values are in memory at once."""
    return max(1, _CHUNK // max(1, n_values))


def _row_chunks(n_rows: int, n_docs: int) -> list[int]:
    per_chunk = resample_batch(n_docs)
    return [min(per_chunk, n_rows - start) for start in range(0, n_rows, per_chunk)]


def paired_bootstrap_ci(
    diff: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(diff), resampling docs with replacement
    (`scipy.stats.bootstrap` on the one sample of per-doc differences)."""
    diff = np.asarray(diff, dtype=np.float64)
    if np.ptp(diff) == 0:  # all docs alike: every resample's mean is that value
        return float(diff[0]), float(diff[0])
    result = stats.bootstrap(
        (diff,),
        np.mean,
        n_resamples=n_boot,
        batch=resample_batch(len(diff)),
        vectorized=True,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng([seed, 1]),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def sign_flip_p_value(
    diff: np.ndarray, n_perm: int = 2000, seed: int = 0
) -> float | np.ndarray:
    """Two-sided paired permutation test of mean(diff) = 0: flip each doc's sign at random.

    p = (1 + #{|mean(s * diff)| >= |mean(diff)|}) / (1 + n_perm), so p > 0 always.
    ``diff`` of shape (rows × docs) gives a p per row, every row flipped with the same signs.
    """
    # not scipy.stats.permutation_test: its one-sample sign flip permutes each doc's (d, -d) pair
    # in a Python loop over docs, 3-6x slower at 250-14,000 docs (docs/cv.md)
    diff = np.asarray(diff, dtype=np.float64)
    n_docs = diff.shape[-1]
    rng = np.random.default_rng([seed, 2])
    observed = np.abs(diff.mean(axis=-1))
    hits = np.zeros(observed.shape, dtype=np.int64)
    for rows in _row_chunks(n_perm, n_docs):
        signs = rng.integers(0, 2, size=(rows, n_docs)).astype(np.float64) * 2 - 1
        means = np.abs(signs @ diff.T) / n_docs  # (draws,) or (draws × rows)
        hits += np.sum(means >= observed - _TIE_TOL, axis=0)
    p = (1 + hits) / (1 + n_perm)
    return float(p) if diff.ndim == 1 else p


def _check_inputs(scores: np.ndarray, grid: np.ndarray, folds: int) -> int:
    if scores.ndim != 2 or scores.shape[0] != len(grid):
        raise CVError(f"scores must be (alphas x docs) = ({len(grid)} x N), got {scores.shape}")
    if not np.isclose(grid, 1.0, rtol=0, atol=1e-12).any():
        raise CVError(f"alpha=1.0 must be in the grid to measure a gain; got {grid.tolist()}")
    if folds < 2:
        raise CVError(f"--folds must be at least 2, got {folds}")
    if scores.shape[1] < folds:
        raise CVError(f"{scores.shape[1]} docs cannot be split into {folds} folds; use fewer folds")
    if not np.isfinite(scores).all():
        raise CVError("scores contain NaN or infinity")
    return int(np.flatnonzero(np.isclose(grid, 1.0, rtol=0, atol=1e-12))[0])


def cross_validate_scores(
    scores: np.ndarray,
    alphas: Sequence[float] | np.ndarray,
    folds: int = 5,
    seed: int = 0,
    objective: str = "max",
    n_boot: int = 2000,
) -> dict:
    """K-fold cross-validated gain of choosing alpha, for one task.

    ``scores[i, d]`` is doc d's score at ``alphas[i]``; columns must be sorted by doc_id.
    ``delta_cv`` = acc_cv - acc_alpha1 in the metric's own direction: for objective "min" a
    gain is a negative delta. ``n_boot`` resamples serve both the CI and the permutation test.
    """
    scores = np.asarray(scores, dtype=np.float64)
    grid = np.asarray(alphas, dtype=np.float64)
    sign = objective_sign(objective)
    one = _check_inputs(scores, grid, folds)
    chosen, score_cv = out_of_fold(scores, grid, folds, seed, objective)
    diff = score_cv - scores[one]
    delta = float(diff.mean())
    p_value = sign_flip_p_value(diff, n_boot, seed)
    low, high = paired_bootstrap_ci(diff, n_boot, seed)
    return {
        "n": int(scores.shape[1]),
        "acc_alpha1": float(scores[one].mean()),
        "acc_cv": float(score_cv.mean()),
        "delta_cv": delta,
        "alphas_chosen": [float(grid[i]) for i in chosen],
        "acc_by_alpha": {
            format_alpha(a): float(m) for a, m in zip(grid, scores.mean(axis=1), strict=True)
        },
        "ci95": [low, high],
        "p_value": p_value,
        "significant": bool(p_value < SIGNIFICANCE_LEVEL and sign * delta > 0),
    }


def _leaf_tasks(
    group: str, groups: Mapping[str, Sequence[str]], seen: frozenset = frozenset()
) -> list[str]:
    if group in seen:
        raise CVError(f"group {group!r} contains itself (run.json 'groups')")
    leaves: list[str] = []
    for member in groups[group]:
        nested = member in groups and member != group
        leaves += _leaf_tasks(member, groups, seen | {group}) if nested else [member]
    return leaves


def aggregate_groups(
    task_results: Mapping[str, dict],
    groups: Mapping[str, Sequence[str]],
    rows_of: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    by_size: Callable[[str, str | None, str | None], bool] = lambda group, filter, metric: False,
) -> dict:
    """Per group: the unweighted mean over member tasks (the paper's aggregation), the share of
    members with a significant gain and, where ``by_size(group, filter, metric)``, lm-eval's mean
    weighted by each task's doc count. Nested groups are expanded to their tasks.

    ``rows_of`` maps a task to its (row name, filter) pairs (default: the task is its own row).
    Members with several filters give the group a row per filter, ``<group>,<filter>``, as lm-eval.
    Only rows of one metric (their ``"metric"``) are averaged: members scored with different
    metrics give the group a row per metric, ``<group> [<metric>]``.
    """
    out: dict[str, dict] = {}
    for group in groups:
        members = sorted(set(_leaf_tasks(group, groups)))
        rows = {
            t: [(r, f) for r, f in (rows_of or {}).get(t, [(t, None)]) if r in task_results]
            for t in members
        }
        missing = [t for t in members if not rows[t]]
        if missing or not members:
            raise CVError(
                f"group {group!r} has members without results ({', '.join(missing[:3]) or 'none listed'}); "
                "finish the sweep for them or drop them from run.json 'groups'"
            )
        keys = list(
            dict.fromkeys((f, task_results[r].get("metric")) for t in members for r, f in rows[t])
        )
        several_filters = len({f for f, _ in keys}) > 1
        several_metrics = len({m for _, m in keys}) > 1
        for filter, metric in keys:
            names = [
                r
                for t in members
                for r, f in rows[t]
                if f == filter and task_results[r].get("metric") == metric
            ]
            name = group + (f",{filter}" if several_filters else "")
            name += f" [{metric}]" if several_metrics else ""
            out[name] = _group_figures(names, task_results, by_size(group, filter, metric))
            out[name]["metric"] = metric
    return out


def _group_figures(names: Sequence[str], task_results: Mapping[str, dict], by_size: bool) -> dict:
    rows = [task_results[t] for t in names]
    figures = {
        "n_tasks": len(rows),
        "acc_alpha1": float(np.mean([r["acc_alpha1"] for r in rows])),
        "acc_cv": float(np.mean([r["acc_cv"] for r in rows])),
        "delta_cv": float(np.mean([r["delta_cv"] for r in rows])),
        "share_significant": float(np.mean([r["significant"] for r in rows])),
        "tasks": list(names),
        "weighted_by_size": None,
    }
    if by_size:  # lm-eval's aggregate_subtask_metrics: sum(value * size) / sum(size)
        sizes = np.array([r["n"] for r in rows], dtype=np.float64)
        figures["weighted_by_size"] = {
            key: float(np.dot(sizes, [r[key] for r in rows]) / sizes.sum())
            for key in ("acc_alpha1", "acc_cv", "delta_cv")
        } | {"n_docs": int(sizes.sum())}
    return figures


def run_rows(
    run_dir: Path, info: Mapping, metric: str | None = None, filter: str | None = None
) -> list[Row]:
    """The (task, filter) rows of RUN_DIR (described by ``info``, its run.json), each with its
    task's primary metric unless ``metric`` forces one; checked against the units' manifests."""
    tasks = list(info.get("tasks") or list_units(run_dir))
    if not tasks:
        raise CVError(f"RUN_DIR {run_dir} lists no tasks; run `tuco-eval sweep` first")
    grid = info.get("alphas") or None
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
) -> dict:
    """Cross-validate every (task, filter) of RUN_DIR, aggregate its groups, write RUN_DIR/cv.json.

    ``metric`` None scores each task with its primary metric; a name forces it for every task.
    ``filter`` keeps only that filter's row of a task with several (`tuco_eval.store.task_rows`)."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    objective_sign(objective)  # fail before reading the store
    rows = run_rows(run_dir, info, metric, filter)
    grid = info.get("alphas") or None  # None: whatever alphas each task has on disk
    results = {}
    for row in rows:
        matrix = score_matrix(run_dir, row.task, row.key, alphas=grid)
        results[row.name] = {
            **cross_validate_scores(matrix.scores, matrix.alphas, folds, seed, objective, n_boot),
            "filter": row.filter,
            "metric": row.metric,
            "task": row.task,  # where the row's per-doc scores live: task's records, field `key`
            "key": row.key,
        }
    rows_of: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        rows_of.setdefault(row.task, []).append((row.name, row.filter))
    config = {
        "format": CV_FORMAT,
        "folds": folds,
        "objective": objective,
        "seed": seed,
        "metric": metric,  # None: each task's primary metric
        "metrics": list(dict.fromkeys(row.metric for row in rows)),
        "n_boot": n_boot,
        "filter": filter,
        "significance_level": SIGNIFICANCE_LEVEL,
        "label": info.get("label") or run_dir.name,
        "model_args": info.get("model_args"),
        "store_fingerprint": store_fingerprint(run_dir),
    }
    result = {
        "config": config,
        "tasks": results,
        "groups": aggregate_groups(
            results,
            info.get("groups", {}),
            rows_of,
            lambda group, f, m: weighted_by_size(info, group, m, f),
        ),
    }
    atomic_write_json(run_dir / CV_FILE, result)
    return result


def load_cached(
    path: Path, fingerprint: str, compute: Callable[..., dict], key: str = "store_fingerprint"
) -> dict:
    """The CV result at `path` when it was computed from this store in this format; else
    `compute(**its settings)` again (or `compute()` when the file is missing or unreadable)."""
    try:
        result = json.loads(Path(path).read_text())
        settings = {name: result["config"].get(name) for name in CV_SETTINGS}
        fresh = result["config"].get(key) == fingerprint
        fresh = fresh and result["config"].get("format") == CV_FORMAT  # older layouts: redo
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return compute()
    return result if fresh else compute(**settings)


def row_metric(result: Mapping, row: Mapping) -> str:
    """The metric of one task or group row of cv.json (older files: the config's)."""
    return row.get("metric") or result["config"].get("metric") or "acc"


def shared_metric(result: Mapping) -> str | None:
    """The metric of every row of cv.json, or None when the rows use different metrics."""
    rows = [*result["tasks"].values(), *result.get("groups", {}).values()]
    metrics = {row_metric(result, r) for r in rows} or {result["config"].get("metric") or "acc"}
    return metrics.pop() if len(metrics) == 1 else None

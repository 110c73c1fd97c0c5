"""Which way of scaling fine-tuning wins? The three modes compared per task, with the same folds.

For each mode and task, α is cross-validated exactly as in `tuco_eval.stats.cv` (same K folds of the
same docs, same seed), giving each doc its out-of-sample score cv_m(d). Two modes are compared
by the per-doc difference δ(d) = cv_a(d) − cv_b(d): its mean, a paired bootstrap 95 % CI and a
paired sign-flip p-value (the tests of docs/statistics.md). See docs/modes.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from itertools import combinations
from pathlib import Path

import numpy as np

from tuco_eval.analysis.run_cv import CV_SETTINGS, cross_validate, run_rows
from tuco_eval.records.cv_json import CV_FORMAT
from tuco_eval.records.modes_json import ModesResult
from tuco_eval.records.report import AlphaCurve, ModeReport, ModeTask
from tuco_eval.stats.cv import (
    SIGNIFICANCE_LEVEL,
    CVError,
    TooFewForFolds,
    objective_sign,
    out_of_fold,
    paired_bootstrap_ci,
)
from tuco_eval.stats.multiplicity import benjamini_hochberg
from tuco_eval.stats.paired import clustered_pairs
from tuco_eval.stats.sign_flip import sign_flip_p
from tuco_eval.store.clusters import store_clusters
from tuco_eval.store.run_json import mode_roots, read_run_info
from tuco_eval.store.units import ScoreMatrix, score_matrix, store_fingerprint
from tuco_eval.util.files import atomic_write_json

MODES_FILE = "modes.json"


def compare_pair(
    a: np.ndarray, b: np.ndarray, seed: int = 0, n_boot: int = 2000, objective: str = "max",
    clusters: np.ndarray | None = None,
) -> dict:
    """Mean of the per-doc difference a − b, its paired bootstrap CI, sign-flip p and the winner;
    with ``clusters``, the test on the clusters' sums and the bootstrap over clusters."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if clusters is None:
        p_value = sign_flip_p(diff)
        low, high = paired_bootstrap_ci(diff, n_boot, seed)
    else:  # the pair test over clusters: rows (b, a), so its difference is a − b
        rows = np.stack([np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)])
        tested = clustered_pairs([rows], [clusters], np.array([0]), np.array([1]), n_boot, seed)
        p_value, low, high = float(tested.p[0]), float(tested.low[0]), float(tested.high[0])
    better = objective_sign(objective) * float(diff.mean())
    return {
        "diff": float(diff.mean()),
        "ci95": [low, high],
        "p_value": p_value,
        "significant": bool(p_value < SIGNIFICANCE_LEVEL and better != 0),
        "better": None if better == 0 else ("first" if better > 0 else "second"),
    }


def compare_modes_scores(
    matrices: Mapping[str, ScoreMatrix],
    folds: int = 5,
    seed: int = 0,
    objective: str = "max",
    n_boot: int = 2000,
    clusters: np.ndarray | None = None,
) -> dict:
    """Per-mode CV summary and every pair of modes compared, for one task (pure, seeded);
    ``clusters`` (a label per doc) keeps a cluster's docs in one fold and tests over clusters."""
    modes = list(matrices)
    docs = matrices[modes[0]].doc_ids
    for mode in modes[1:]:
        if not np.array_equal(matrices[mode].doc_ids, docs):
            raise CVError(
                f"modes {modes[0]} and {mode} cover different docs; rerun the sweep of one of them "
                "with the same tasks and --limit"
            )
    per_doc = {}
    summary = {}
    for mode, matrix in matrices.items():
        if len(docs) < folds:
            raise TooFewForFolds(f"{len(docs)} docs cannot be split into {folds} folds; use fewer folds")
        per_doc[mode] = out_of_fold(matrix.scores, matrix.alphas, folds, seed, objective, clusters)[1]
        one = int(np.argmin(np.abs(matrix.alphas - 1.0)))
        summary[mode] = {
            "acc_alpha1": float(matrix.scores[one].mean()),
            "acc_cv": float(per_doc[mode].mean()),
            "delta_cv": float(per_doc[mode].mean() - matrix.scores[one].mean()),
            "acc_by_alpha": {
                repr(float(a)): float(m)
                for a, m in zip(matrix.alphas, matrix.scores.mean(axis=1), strict=True)
            },
        }
    pairs = {
        f"{a} - {b}": compare_pair(per_doc[a], per_doc[b], seed, n_boot, objective, clusters)
        for a, b in combinations(modes, 2)
    }
    best = max(modes, key=lambda m: objective_sign(objective) * summary[m]["acc_cv"])
    return {"n": int(len(docs)), "modes": summary, "pairs": pairs, "best": best}


def modes_fingerprint(roots: Mapping[str, Path]) -> str:
    """One fingerprint over every mode's store: modes.json is stale when any of them changed."""
    digest = hashlib.sha256()
    for mode, root in roots.items():
        digest.update(f"{mode}\0{store_fingerprint(root)}\0".encode())
    return digest.hexdigest()


def cross_validate_modes(
    run_dir: str | Path,
    folds: int = 5,
    objective: str = "max",
    seed: int = 0,
    metric: str | None = None,
    n_boot: int = 2000,
    filter: str | None = None,
    cluster_key: str | None = None,
) -> ModesResult:
    """CV of every mode's store (each writes its cv.json) and the comparison, in RUN_DIR/modes.json.

    Rows are (task, filter) as in `cross_validate`; ``filter`` picks one of a task's filters;
    ``cluster_key`` as `cross_validate`."""
    run_dir = Path(run_dir)
    roots = mode_roots(run_dir)
    if not roots:
        raise CVError(
            f"RUN_DIR {run_dir} has no complete results in any mode; run `tuco-eval sweep` first"
        )
    per_mode = {
        mode: cross_validate(
            root,
            folds=folds,
            objective=objective,
            seed=seed,
            metric=metric,
            n_boot=n_boot,
            filter=filter,
            cluster_key=cluster_key,
        )
        for mode, root in roots.items()
    }
    infos = {mode: read_run_info(root) for mode, root in roots.items()}
    rows = {
        mode: {r.name: r for r in run_rows(root, infos[mode], metric, filter)}
        for mode, root in roots.items()
    }
    names = sorted(set.intersection(*(set(r.tasks) for r in per_mode.values())))
    comparison = {}
    for name in names:
        matrices = {
            mode: score_matrix(
                root,
                rows[mode][name].task,
                rows[mode][name].key,
                alphas=infos[mode].alphas or None,
            )
            for mode, root in roots.items()
        }
        first_mode, first_root = next(iter(roots.items()))
        clusters = store_clusters(
            first_root, infos[first_mode], rows[first_mode][name].task, matrices[first_mode].doc_ids, cluster_key
        )[1]
        comparison[name] = compare_modes_scores(matrices, folds, seed, objective, n_boot, clusters)
        comparison[name]["metric"] = next(iter(rows.values()))[name].metric
    result = ModesResult(
        config={
            "folds": folds,
            "objective": objective,
            "seed": seed,
            "metric": metric,  # None: each task's primary metric
            "n_boot": n_boot,
            "filter": filter,
            "cluster_key": cluster_key,
            "format": CV_FORMAT,
            "significance_level": SIGNIFICANCE_LEVEL,
            "modes": list(roots),
            "label": read_run_info(run_dir).label or run_dir.name,
            "fingerprint": modes_fingerprint(roots),
        },
        tasks=comparison,
        per_mode=per_mode,
    )
    atomic_write_json(run_dir / MODES_FILE, result.to_json())
    return result


def load_modes_cv(run_dir: Path) -> ModesResult:
    """RUN_DIR/modes.json, recomputed (same settings) when missing, unreadable, of another format
    or older than any mode's store."""
    try:
        result = ModesResult.from_json(json.loads((run_dir / MODES_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return cross_validate_modes(run_dir)
    if result.config.get("fingerprint") == modes_fingerprint(mode_roots(run_dir)):
        return result
    return cross_validate_modes(run_dir, **{k: result.config.get(k) for k in CV_SETTINGS})


def mode_view(result: ModesResult, run: str = "") -> ModeReport:
    """What the report and `cv` show of a modes.json: each task's modes and pairs, a pair
    significant where it favours a mode and its p, after Benjamini–Hochberg across every task
    and pair of modes, is below the level; ``run`` the report row's label."""
    cfg, level = result.config, result.config["significance_level"]
    tested = [p for r in result.tasks.values() for p in r["pairs"].values()]
    adjusted = dict(zip(map(id, tested), benjamini_hochberg([p["p_value"] for p in tested]), strict=True))
    tasks = [
        ModeTask(
            name=task, n=r["n"], metric=r.get("metric") or cfg.get("metric") or "acc",
            acc_alpha1=r["modes"][cfg["modes"][0]]["acc_alpha1"],
            modes={m: r["modes"][m] for m in cfg["modes"]},
            pairs=r["pairs"],
            significant={name: bool(p["better"] and adjusted[id(p)] < level) for name, p in r["pairs"].items()},
            best=r["best"],
            curves={m: AlphaCurve.of(result.per_mode[m].tasks[task]) for m in cfg["modes"]},
        )
        for task, r in result.tasks.items()
    ]
    metrics = {t.metric for t in tasks} or {cfg.get("metric") or "acc"}
    return ModeReport(
        run=run, label=cfg["label"], modes=list(cfg["modes"]), folds=cfg["folds"], seed=cfg["seed"],
        significance_level=level, metric=metrics.pop() if len(metrics) == 1 else None, tasks=tasks,
    )

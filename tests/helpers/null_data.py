"""Seeded simulated data sets for the calibration checks (tests/test_calibration.py and
scripts/cv_calibration.py): score matrices under nulls where α, or the row, has no effect, and
with a known effect for power. Every array is drawn at once, data sets along the first axis."""

from __future__ import annotations

import numpy as np
from scipy import stats

from tuco_eval.util.params import PAPER_ALPHAS

GRID = np.array(PAPER_ALPHAS)
ALPHA_NULLS = ("independent", "10%", "30%", "correlated", "graded")
DOCS = {"independent": 200, "graded": 300}  # the others: 500
# the test split's docs per subject of MMLU's 57 (../shared/data/mmlu/mmlu_test.jsonl, 14,042 in all)
MMLU_SIZES = [100] * 10 + [
    102, 103, 108, 110, 112, 114, 121, 126, 131, 135, 144, 145, 151, 152, 163, 165, 166, 171, 173,
    193, 198, 201, 203, 204, 216, 223, 234, 235, 237, 238, 245, 265, 270, 272, 282, 306, 310, 311,
    324, 346, 378, 390, 545, 612, 783, 895, 1534,
]


def alpha_null(kind: str, n_sets: int, seed: int, n_docs: int | None = None) -> np.ndarray:
    """[data set, α, doc] scores where a doc's outcome has the same distribution at every α:

    * independent: 0/1, re-drawn independently at each α,
    * 10% / 30%:   0/1, the same at every α except for 10 % / 30 % of the docs, re-drawn,
    * correlated:  0/1 from a latent Gaussian per doc correlated across the grid, ρ = 0.8^|i − j|,
    * graded:      a continuous score, doc effect plus independent noise at each α.
    Each doc's probability (or mean) is uniform on [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    n_docs = n_docs or DOCS.get(kind, 500)
    shape = (n_sets, len(GRID), n_docs)
    p = rng.uniform(0.1, 0.9, size=(n_sets, 1, n_docs))
    if kind == "independent":
        return (rng.random(shape) < p).astype(float)
    if kind in ("10%", "30%"):
        fixed = np.broadcast_to(rng.random((n_sets, 1, n_docs)), shape)
        redrawn = rng.random((n_sets, 1, n_docs)) < {"10%": 0.1, "30%": 0.3}[kind]
        return (np.where(redrawn, rng.random(shape), fixed) < p).astype(float)
    if kind == "correlated":
        lags = np.abs(np.subtract.outer(np.arange(len(GRID)), np.arange(len(GRID))))
        latent = np.einsum("ij,sjd->sid", np.linalg.cholesky(0.8**lags), rng.standard_normal(shape))
        return (stats.norm.cdf(latent) < p).astype(float)
    if kind == "graded":
        return np.clip(p + rng.normal(0, 0.2, size=shape), 0, 1)
    raise ValueError(kind)


def noisier_alpha_null(n_sets: int, n_docs: int, seed: int) -> np.ndarray:
    """Graded scores whose mean is the same at every α but whose noise is twice as large at
    α = 1.25 (sd 0.4 against 0.2): α has no effect on any mean, yet the α's are not exchangeable."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.9, size=(n_sets, 1, n_docs))
    noise = np.where(GRID == 1.25, 0.4, 0.2)[None, :, None]
    return p + rng.normal(0.0, 1.0, size=(n_sets, len(GRID), n_docs)) * noise


def alpha_gain(n_sets: int, seed: int, gain: float = 0.03, n_docs: int = 1000) -> np.ndarray:
    """As the 30 % null, but α = 1.1 is ``gain`` more likely right on every doc."""
    rng = np.random.default_rng(seed)
    shape = (n_sets, len(GRID), n_docs)
    p = rng.uniform(0.1, 0.9, size=(n_sets, 1, n_docs)) + gain * (GRID == 1.1)[None, :, None]
    fixed = np.broadcast_to(rng.random((n_sets, 1, n_docs)), shape)
    redrawn = rng.random((n_sets, 1, n_docs)) < 0.3
    return (np.where(redrawn, rng.random(shape), fixed) < p).astype(float)


def scaling_gain(n_sets: int, n_docs: int, gain: float, seed: int, redraw: float = 0.3) -> np.ndarray:
    """[data set, α, doc] 0/1 scores where scaling α truly matters: each doc right at α = 1 with
    chance p ~ U(0.2, 0.8); at every other α, each doc re-drawn with chance ``redraw`` (else it
    keeps its α = 1 outcome); the re-drawn docs at α = 1.1 right with chance p + gain / redraw,
    so α = 1.1 gains ``gain`` on average and the other α's nothing."""
    rng = np.random.default_rng(seed)
    shape = (n_sets, len(GRID), n_docs)
    p = rng.uniform(0.2, 0.8, size=(n_sets, 1, n_docs))
    right_at_one = rng.random((n_sets, 1, n_docs)) < p
    chance = np.broadcast_to(p, shape).copy()
    chance[:, GRID == 1.1] = np.clip(chance[:, GRID == 1.1] + gain / redraw, 0.0, 1.0)
    redrawn = rng.random(shape) < redraw
    scores = np.where(redrawn, rng.random(shape) < chance, right_at_one).astype(float)
    scores[:, GRID == 1.0] = right_at_one
    return scores


def delta_cv_draws(n_docs: int, gain: float, seed: int, n_sets: int = 20000, folds: int = 5) -> np.ndarray:
    """Δ_CV of ``n_sets`` `scaling_gain` data sets (the point estimate only, vectorised over data
    sets through the same fold choice as the CV): its distribution, whose mean is E[Δ_CV]."""
    from tuco_eval.stats import cv
    from tuco_eval.stats.fold_choice import fold_labels, held_out_deltas

    fold_of = fold_labels(cv.fold_test_indices(n_docs, folds, 0), n_docs)
    membership = np.eye(folds)[fold_of]
    preference = sorted(range(len(GRID)), key=lambda i: cv.closest_to_one(float(GRID[i])))
    one = int(np.flatnonzero(GRID == 1.0)[0])
    out = []
    for start in range(0, n_sets, 1000):
        data = scaling_gain(min(1000, n_sets - start), n_docs, gain, seed + start)
        out.append(held_out_deltas(data @ membership, membership.sum(axis=0), one, preference))
    return np.concatenate(out)


def expected_delta_cv(n_docs: int, gain: float, seed: int, n_sets: int = 20000, folds: int = 5) -> float:
    """E[Δ_CV] of `scaling_gain` data sets, by simulation (`delta_cv_draws`)."""
    return float(delta_cv_draws(n_docs, gain, seed, n_sets, folds).mean())


def clustered_alpha_null(n_sets: int, n_clusters: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """([data set, α, doc] graded scores, cluster of each doc) where α has no effect on any
    cluster's distribution but moves all docs of a cluster together: score = doc level + a noise
    per (cluster, α) shared by the cluster's docs + a little own noise. Permuting α labels doc by
    doc breaks the sharing (a null too narrow); permuting them per cluster does not."""
    rng = np.random.default_rng(seed)
    n_docs = n_clusters * size
    clusters = np.repeat(np.arange(n_clusters), size)
    level = rng.uniform(0.2, 0.8, size=(n_sets, 1, n_docs))
    shared = rng.normal(0.0, 0.15, size=(n_sets, len(GRID), n_clusters))[:, :, clusters]
    own = rng.normal(0.0, 0.02, size=(n_sets, len(GRID), n_docs))
    return level + shared + own, clusters


def clustered_differences(n_sets: int, n_clusters: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """([data set, doc] differences between two interchangeable rows, cluster of each doc): a
    difference shared by a cluster's docs (symmetric about 0) plus each doc's own; every doc's
    difference is symmetric, but the docs of a cluster are not independent."""
    rng = np.random.default_rng(seed)
    clusters = np.repeat(np.arange(n_clusters), size)
    shared = rng.normal(0.0, 1.0, size=(n_sets, n_clusters))[:, clusters]
    return shared + rng.normal(0.0, 0.5, size=(n_sets, n_clusters * size)), clusters


def exchangeable_rows(
    n_sets: int, rows: int, tasks: int, docs: int, binary: bool, shared: float, seed: int
) -> list[list[np.ndarray]]:
    """Per data set, per task, a (rows × docs) score matrix whose rows are exchangeable: a doc
    effect shared by every row (correlation ``shared`` between rows) plus the row's own noise;
    0/1 by thresholding, else continuous."""
    rng = np.random.default_rng(seed)
    latent = np.sqrt(shared) * rng.standard_normal((n_sets, tasks, 1, docs)) + np.sqrt(
        1 - shared
    ) * rng.standard_normal((n_sets, tasks, rows, docs))
    level = rng.uniform(-1, 1, size=(n_sets, tasks, 1, 1))  # each task its own accuracy
    scores = (latent < level).astype(float) if binary else latent
    return [list(s) for s in scores]

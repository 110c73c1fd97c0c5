"""Δ_CV's 95 % interval: the documents resampled and the whole cross-validation rerun in each
resample (contributing/statistics.md, "The interval of E[Δ_CV]").

What it covers: E[Δ_CV], the expected held-out gain of this procedure (this grid, these folds'
number, this many docs) over data sets drawn like this one. It is not the gain of the best α:
choosing α on four fifths of the docs costs, so E[Δ_CV] sits below it, by most on small tasks.

The spread: each draw resamples the docs (the clusters, where declared) with replacement, each
copy staying in its doc's fold, and reruns the CV with the same tie rule. Before resampling, each
fold's mean gain at every α is moved to the task's: the folds of one data set differ by chance,
and a plain bootstrap would keep those fixed differences and add fresh sampling noise on top,
counting the fold-to-fold noise twice (its interval runs ~20 % wide where α matters little); the
deviations within a fold are scaled up for the degree of freedom its mean took (without it the
spread runs ~6 % short on 40 docs).

The interval: low = Δ − z·sd, high = max(Δ + z·sd, B), sd the draws' standard deviation and B a
simultaneous upper bound of max(0, max over α of its mean gain over α = 1) at 1 − (1 − level)/2
(the max-t bootstrap of the per-α gains). E[Δ_CV] never exceeds that maximum: the held-out score
at the chosen α averages the gains of the α's chosen, 0 for α = 1. The bound keeps the interval's
upper end where CV may have missed a good α in this data set (Δ_CV's distribution then has a long
lower tail that a symmetric interval misses). Coverage measured in contributing/statistics.md, "Calibration".
Pure numpy; ``sign`` −1 mirrors everything for objective "min".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from tuco_eval.stats.fold_choice import fold_labels, held_out_deltas

_CHUNK = 1 << 22  # resampled weights held in memory at once


@dataclass(frozen=True)
class BootstrapDraws:
    """Resampled data sets of one task: Δ_CV and each α's mean gain over α = 1 in each."""

    deltas: np.ndarray  # [B]
    gains: np.ndarray  # [B, α]; the α = 1 column is 0


def resample_counts(n_units: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """How many times each of ``n_units`` units is drawn in each of ``n_draws`` resamples of
    size n_units with replacement: [draws, units]."""
    picks = rng.integers(0, n_units, size=(n_draws, n_units)) + (np.arange(n_draws) * n_units)[:, None]
    return np.bincount(picks.ravel(), minlength=n_draws * n_units).reshape(n_draws, n_units).astype(np.float64)


def fold_recentred(scores: np.ndarray, fold_of: np.ndarray, one: int) -> np.ndarray:
    """``scores`` with each fold's mean gain over α = 1 at every α moved to the whole task's, and
    each doc's deviation from its fold's mean scaled by √(n_k/(n_k − 1)) (the degree of freedom the
    fold's mean took: the resampled spread is then unbiased, as rescaled residuals in a residual
    bootstrap); the α = 1 row, and every mean over all docs, unchanged."""
    gains = scores - scores[one]
    overall = gains.mean(axis=1, keepdims=True)
    world = np.empty_like(gains)
    for k in np.unique(fold_of):
        in_fold = fold_of == k
        size = int(in_fold.sum())
        deviation = gains[:, in_fold] - gains[:, in_fold].mean(axis=1, keepdims=True)
        world[:, in_fold] = overall + deviation * (np.sqrt(size / (size - 1)) if size > 1 else 1.0)
    return scores[one] + world


def bootstrap_draws(
    scores: np.ndarray,
    tests: Sequence[np.ndarray],
    one: int,
    preference: Sequence[int],
    sign: float = 1.0,
    n_draws: int = 2000,
    seed: int = 0,
    stream: int = 0,
    clusters: np.ndarray | None = None,
) -> BootstrapDraws:
    """``n_draws`` resamples of the docs (of the clusters, all docs of a cluster together), each
    cross-validated with the folds ``tests`` (a copy in its doc's fold) on the fold-recentred
    scores; seeded by `default_rng([seed, 3, stream])`."""
    scores = np.asarray(scores, dtype=np.float64)
    n_alphas, n_docs = scores.shape
    fold_of = fold_labels(tests, n_docs)
    n_folds = len(tests)
    world = fold_recentred(scores, fold_of, one)
    # per doc, its scores spread over the folds: weights @ design are the fold sums [α × folds]
    membership = np.eye(n_folds)[fold_of]  # [docs, folds]
    design = np.concatenate(
        [(world[:, :, None] * membership[None]).transpose(1, 0, 2).reshape(n_docs, n_alphas * n_folds),
         membership, (scores - scores[one]).T],
        axis=1,
    )
    units = np.arange(n_docs) if clusters is None else np.asarray(clusters, dtype=np.int64)
    unit_of = np.unique(units, return_inverse=True)[1]
    n_units = int(unit_of.max()) + 1
    rng = np.random.default_rng([seed, 3, stream])
    deltas, gains = np.empty(n_draws), np.empty((n_draws, n_alphas))
    per_chunk = max(1, _CHUNK // max(n_docs, n_units))
    for start in range(0, n_draws, per_chunk):
        draws = min(per_chunk, n_draws - start)
        weights = resample_counts(n_units, draws, rng)[:, unit_of]  # [draws, docs]
        sums = weights @ design
        fold_sums = sums[:, : n_alphas * n_folds].reshape(draws, n_alphas, n_folds)
        sizes = sums[:, n_alphas * n_folds : n_alphas * n_folds + n_folds]
        deltas[start : start + draws] = held_out_deltas(fold_sums, sizes, one, preference, sign)
        gains[start : start + draws] = sums[:, -n_alphas:] / weights.sum(axis=1, keepdims=True)
    return BootstrapDraws(deltas, gains)


def best_gain_bound(
    scores: np.ndarray, one: int, gains: np.ndarray, sign: float = 1.0, level: float = 0.95,
    clusters: np.ndarray | None = None,
) -> float:
    """A simultaneous upper bound at 1 − (1 − level)/2 of max(0, max over α of sign × its mean gain
    over α = 1), in sign units: each α's gain plus c standard errors, c the max-t quantile of the
    resampled gains ``gains`` [B, α] (standard errors over clusters where declared)."""
    diffs = sign * (np.asarray(scores, dtype=np.float64) - scores[one])
    estimate = diffs.mean(axis=1)
    se = _standard_errors(diffs, clusters)
    free = (np.arange(len(diffs)) != one) & (se > 0)
    if not free.any():
        return float(max(0.0, estimate.max()))
    spread = (estimate[free] - sign * gains[:, free]) / se[free]  # how far each resample falls below
    c = float(np.quantile(spread.max(axis=1), 1 - (1 - level) / 2))
    return float(max(0.0, np.max(estimate[free] + c * se[free]), estimate.max()))


def _standard_errors(diffs: np.ndarray, clusters: np.ndarray | None) -> np.ndarray:
    """Standard error of each row's mean over docs; cluster-robust (sums per cluster) if clustered."""
    n = diffs.shape[1]
    if clusters is None:
        return diffs.std(axis=1, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(diffs))
    unit_of = np.unique(clusters, return_inverse=True)[1]
    n_units = int(unit_of.max()) + 1
    if n_units < 2:
        return np.zeros(len(diffs))
    centred = diffs - diffs.mean(axis=1, keepdims=True)
    sums = np.stack([np.bincount(unit_of, row, minlength=n_units) for row in centred])
    return np.sqrt(n_units / (n_units - 1) * (sums**2).sum(axis=1)) / n


def delta_interval(
    delta: float, sd: float, bound: float, sign: float = 1.0, level: float = 0.95
) -> tuple[float, float]:
    """The interval of E[Δ_CV]: Δ ∓ z·sd on the loss side, the larger of Δ + z·sd and the best
    gain's bound on the gain side (``bound`` in sign units; mirrored for sign −1)."""
    z = float(stats.norm.ppf(0.5 + level / 2))
    gain = sign * delta
    low, high = gain - z * sd, max(gain + z * sd, bound)
    return (low, high) if sign > 0 else (-high, -low)


def compatible_interval(
    delta: float, interval: Sequence[float], p_value: float, null: np.ndarray,
    significance: float = 0.05,
) -> tuple[float, float]:
    """The interval made to agree with the test at ``significance``, so that "the interval leaves
    0 out" and "p < significance" are one statement: it is widened to 0 when p ≥ it; when p < it
    and the bootstrap's bound on Δ's side lies across 0, that bound is the test's own, the one
    inverting the α-permutation test under a shift of the gain (Δ minus the 1 − a/2 quantile of
    the permuted Δ's ``null``), which lies beyond 0 exactly when the test rejects."""
    low, high = float(interval[0]), float(interval[1])
    if p_value >= significance or delta == 0:
        return min(low, 0.0), max(high, 0.0)
    quantiles = np.quantile(null, [significance / 2, 1 - significance / 2])
    if delta > 0 and low <= 0:
        low = max(float(delta - quantiles[1]), 0.0)
    if delta < 0 and high >= 0:
        high = min(float(delta - quantiles[0]), 0.0)
    return low, high

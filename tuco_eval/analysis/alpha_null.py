"""Δ_CV's p-value and interval with the choice of α inside them (docs/cv.md, "Uncertainty").

H0: α has no effect on any doc: within each doc, the scores at the grid's α's are exchangeable.
Under it every permutation of a doc's α labels, drawn independently per doc, gives a data set as
likely as the observed one; rerunning the whole cross-validation (the same folds, each fold's α
chosen on the others, the held-out docs scored at it) on each gives Δ_CV's randomization
distribution, which counts the folds' correlated choices that a doc-level test of the chosen
δ's misses. The p-value is its equal-tailed two-sided tail; the interval inverts the same test
under a shift of the gain: [Δ − q(1 − a/2), Δ − q(a/2)] of the permuted Δ's, which covers 0
exactly when Δ lies within their central 1 − a. Vectorised: every draw's fold means are one
tensor contraction; docs whose scores do not vary with α are the same in every draw and are
added once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

_TABLE_MAX = 40320  # α grids of up to 8 values draw a row of a table of all their permutations
_REL_TIE = 1e-9  # Δ's this close, relative to the scores' scale, count as equal (summation order)
# mean scores this close count as tied (float summation order differs by fold): the rule of
# cv.choose_alpha, which imports it, so the permuted CVs choose exactly as the real one
TIE_TOL = 1e-12
_CHUNK = 1 << 22  # permuted values held in memory at once


def _permutations(n_alphas: int, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Uniform random permutations of range(n_alphas), one per (draw, doc): [draws, docs, α]."""
    if math.factorial(n_alphas) <= _TABLE_MAX:
        table = np.array(list(itertools.permutations(range(n_alphas))), dtype=np.int8)
        return table[rng.integers(0, len(table), size=shape)]
    return np.argsort(rng.random((*shape, n_alphas)), axis=-1)


def permuted_deltas(
    scores: np.ndarray,
    tests: Sequence[np.ndarray],
    one: int,
    preference: Sequence[int],
    sign: float = 1.0,
    n_draws: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """Δ_CV of ``n_draws`` data sets made by permuting each doc's α labels, the CV rerun on each
    with the folds ``tests`` (held-out doc positions) and `cv.choose_alpha`'s rule: the best
    mean of ``sign`` × scores, ties to the first α in ``preference``; ``one`` is α = 1's row."""
    scores = np.asarray(scores, dtype=np.float64)
    n_alphas, n_docs = scores.shape
    fold_of = np.empty(n_docs, dtype=np.int64)
    for k, test in enumerate(tests):
        fold_of[test] = k
    n_folds = len(tests)
    varying = np.ptp(scores, axis=0) > 0
    if not varying.any():  # every draw is the data set itself: Δ_CV = 0
        return np.zeros(n_draws)
    # docs alike at every α add the same to each α's fold sums
    constant = np.bincount(fold_of[~varying], scores[0, ~varying], minlength=n_folds)
    values = scores[:, varying].T  # [docs, α]
    membership = np.eye(n_folds)[fold_of[varying]]  # [docs, folds]
    n_train = n_docs - np.bincount(fold_of, minlength=n_folds)
    preference = np.asarray(preference)
    rng = np.random.default_rng([seed, 2])
    out = np.empty(n_draws)
    per_chunk = max(1, _CHUNK // values.size)
    for start in range(0, n_draws, per_chunk):
        draws = min(per_chunk, n_draws - start)
        order = _permutations(n_alphas, (draws, len(values)), rng).transpose(0, 2, 1)
        permuted = np.take_along_axis(values.T[None], order, axis=1)  # [draws, α, docs]
        fold_sums = permuted @ membership + constant  # [draws, α, folds]
        totals = fold_sums.sum(axis=2)
        means = sign * (totals[:, :, None] - fold_sums) / n_train
        best = means.max(axis=1, keepdims=True)
        tied = means >= best - TIE_TOL * np.maximum(1.0, np.abs(best))
        chosen = preference[np.argmax(tied[:, preference, :], axis=1)]  # [draws, folds]
        held_out = np.take_along_axis(fold_sums, chosen[:, None, :], axis=1).sum(axis=(1, 2))
        out[start : start + draws] = (held_out - totals[:, one]) / n_docs
    return out


def permutation_inference(
    delta: float, null: np.ndarray, scale: float, level: float = 0.95
) -> tuple[float, tuple[float, float]]:
    """The equal-tailed two-sided p of ``delta`` in its randomization distribution ``null``
    (the observed data set counted among the draws) and the interval that inverts it."""
    tol = _REL_TIE * max(scale, 1e-300)
    upper = (1 + np.sum(null >= delta - tol)) / (1 + len(null))
    lower = (1 + np.sum(null <= delta + tol)) / (1 + len(null))
    low_q, high_q = np.quantile(null, [(1 - level) / 2, (1 + level) / 2])
    return float(min(1.0, 2 * min(upper, lower))), (float(delta - high_q), float(delta - low_q))

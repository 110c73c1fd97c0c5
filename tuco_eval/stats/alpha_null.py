"""Δ_CV's p-value with the choice of α inside it: the α-permutation test (contributing/statistics.md).

H0: α has no effect on any doc: within each doc (each cluster, where docs are clustered), the
scores at the grid's α's are exchangeable. Under it every permutation of a doc's α labels, drawn
independently per doc (one permutation for all docs of a cluster), gives a data set as likely as
the observed one; rerunning the whole cross-validation (the same folds, each fold's α chosen on
the others, the held-out docs scored at it) on each gives Δ_CV's randomization distribution,
which counts the folds' correlated choices that a doc-level test of the chosen δ's misses. The
p-value is its equal-tailed two-sided tail. Draws come in two stages: FIRST_DRAWS, then, where
fewer than TAIL_DRAWS of them reach the observed Δ (p ≲ 0.01), MAX_DRAWS in all from the same
stream, so a p can reach 2/(MAX_DRAWS + 1) and a correction over many tasks can still find one.
Vectorised: every draw's fold sums are one tensor contraction; docs whose scores do not vary with
α are the same in every draw and are added once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import cache

import numpy as np

from tuco_eval.stats.fold_choice import TIE_TOL, fold_labels, held_out_deltas

__all__ = ["TIE_TOL", "AlphaNull", "permutation_p", "two_stage_p"]

_TABLE_MAX = 40320  # α grids of up to 8 values draw a row of a table of all their permutations
REL_TIE = 1e-9  # Δ's this close, relative to the scores' scale, count as equal (summation order)
_CHUNK = 1 << 22  # permuted values held in memory at once
TAIL_DRAWS = 10  # draws in the smaller tail below which the test is redone with MAX_DRAWS
MAX_DRAWS = 20000  # the second stage: p ≥ 2/20001 ≈ 1e-4


@cache
def _table(n_alphas: int) -> np.ndarray:
    """Every permutation of range(n_alphas), one per row (5,040 for the paper's 7 α's)."""
    return np.array(list(itertools.permutations(range(n_alphas))), dtype=np.int8)


def _permutations(n_alphas: int, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Uniform random permutations of range(n_alphas), one per (draw, unit): [draws, units, α]."""
    if math.factorial(n_alphas) <= _TABLE_MAX:
        table = _table(n_alphas)
        return table[rng.integers(0, len(table), size=shape)]
    return np.argsort(rng.random((*shape, n_alphas)), axis=-1)


class AlphaNull:
    """Δ_CV's randomization distribution for one task, drawn on demand: ``draws(n)`` returns the
    first n draws of one seeded stream (`default_rng([seed, 2, stream])`), making only the ones not
    yet made, so the second stage extends the first and a group reuses its tasks' draws. A draw
    permutes each doc's (cluster's) α labels and reruns the CV with the folds ``tests`` (held-out
    doc positions) and `cv.choose_alpha`'s rule: the best mean of ``sign`` × scores, ties to the
    first α in ``preference``; ``one`` is α = 1's row."""

    def __init__(
        self,
        scores: np.ndarray,
        tests: Sequence[np.ndarray],
        one: int,
        preference: Sequence[int],
        sign: float = 1.0,
        seed: int = 0,
        stream: int = 0,
        clusters: np.ndarray | None = None,
    ) -> None:
        scores = np.asarray(scores, dtype=np.float64)
        self.n_alphas, n_docs = scores.shape
        fold_of = fold_labels(tests, n_docs)
        self.n_folds = len(tests)
        self.varying = bool((np.ptp(scores, axis=0) > 0).any())
        units = np.arange(n_docs) if clusters is None else np.asarray(clusters, dtype=np.int64)
        # only the units (docs, or clusters) with a doc that varies with α are permuted
        moving = np.ptp(scores, axis=0) > 0
        self._unit_of = np.unique(units[moving], return_inverse=True)[1]
        self.n_units = int(self._unit_of.max()) + 1 if moving.any() else 0
        self._constant = np.bincount(fold_of[~moving], scores[0, ~moving], minlength=self.n_folds)
        self._values = scores[:, moving]  # [α, moving docs]
        self._membership = np.eye(self.n_folds)[fold_of[moving]]  # [moving docs, folds]
        self._sizes = np.bincount(fold_of, minlength=self.n_folds)
        self._one, self._preference, self._sign = one, np.asarray(preference), sign
        self._rng = np.random.default_rng([seed, 2, stream])
        self._draws = np.empty(0)

    def draws(self, n: int) -> np.ndarray:
        """The first ``n`` permuted Δ_CV's of this task's stream."""
        if not self.varying:  # every draw is the data set itself: Δ_CV = 0
            return np.zeros(n)
        missing = n - len(self._draws)
        if missing > 0:
            self._draws = np.concatenate([self._draws, self._make(missing)])
        return self._draws[:n]

    def _make(self, n_draws: int) -> np.ndarray:
        out = np.empty(n_draws)
        per_chunk = max(1, _CHUNK // self._values.size)
        for start in range(0, n_draws, per_chunk):
            draws = min(per_chunk, n_draws - start)
            order = _permutations(self.n_alphas, (draws, self.n_units), self._rng)[:, self._unit_of]
            permuted = np.take_along_axis(self._values.T[None], order, axis=2)  # [draws, docs, α]
            fold_sums = permuted.transpose(0, 2, 1) @ self._membership + self._constant  # [draws, α, folds]
            out[start : start + draws] = held_out_deltas(
                fold_sums, self._sizes, self._one, self._preference, self._sign
            )
        return out


def permutation_p(delta: float, null: np.ndarray, scale: float) -> tuple[float, int]:
    """The equal-tailed two-sided p of ``delta`` in its randomization distribution ``null`` (the
    observed data set counted among the draws), and how many draws lie in its smaller tail."""
    tol = REL_TIE * max(scale, 1e-300)
    upper = int(np.sum(null >= delta - tol))
    lower = int(np.sum(null <= delta + tol))
    tail = min(upper, lower)
    return float(min(1.0, 2 * (1 + tail) / (1 + len(null)))), tail


def two_stage_p(
    delta: float, null: AlphaNull, first: int, scale: float, most: int = MAX_DRAWS
) -> tuple[float, int]:
    """(p, draws used): ``first`` draws, then ``most`` where fewer than TAIL_DRAWS reach ``delta``."""
    p, tail = permutation_p(delta, null.draws(first), scale)
    if tail >= TAIL_DRAWS or first >= most or not null.varying:
        return p, first
    return permutation_p(delta, null.draws(most), scale)[0], most

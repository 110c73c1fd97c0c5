"""The paired sign-flip (randomization) test of mean(d) = 0 with a p-value whose resolution does
not depend on a number of draws (docs/cv.md, "Paired tests between checkpoints").

Under H0 each doc's difference is as likely to be d as −d, so the randomization distribution of
S = Σ s_i·|d_i| over the 2^k sign patterns of the k docs that differ is the exact null. Where
k ≤ EXACT_MAX the p-value is that exact count (meet in the middle: 2·2^(k/2) sums, not 2^k);
above it, the Lugannani–Rice saddlepoint approximation of the same distribution, with Daniels'
second continuity correction where the |d| lie on a lattice (0/1 members, graded scores). Its
error is relative, so a p of 1e-9 is as accurate as one of 0.04: Holm over hundreds of pairs
never meets a floor. Ties: sums within REL_TIE·Σ|d| of the observed one count as reaching it.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy import stats

EXACT_MAX = 20  # docs that differ, at most, for exact enumeration (2 × 1024 sums)
REL_TIE = 1e-9  # sums this close, relative to Σ|d|, count as tied (float summation order)
_LATTICE_VALUES = 64  # distinct |d| at most for looking for a lattice (graded or 0/1 scores)
_NEWTON_STEPS = 200


def sign_flip_p(diff: np.ndarray) -> float | np.ndarray:
    """Two-sided p of the sign-flip test of mean(diff) = 0; ``diff`` (rows × docs) gives a p per
    row. Exact where at most EXACT_MAX docs differ from 0, else the saddlepoint approximation."""
    diff = np.asarray(diff, dtype=np.float64)
    rows = np.atleast_2d(diff)
    p = np.ones(len(rows))
    scale = np.abs(rows).sum(axis=1)
    nonzero = np.abs(rows) > REL_TIE * scale[:, None]
    differing = nonzero.sum(axis=1)
    for r in np.flatnonzero((differing > 0) & (differing <= EXACT_MAX)):
        p[r] = exact_p(rows[r, nonzero[r]])
    large = np.flatnonzero(differing > EXACT_MAX)
    if len(large):
        p[large] = saddlepoint_p([rows[r, nonzero[r]] for r in large])
    return float(p[0]) if diff.ndim == 1 else p


def _signed_sums(values: np.ndarray) -> np.ndarray:
    """Σ ±v over every sign pattern of ``values``."""
    signs = 1.0 - 2.0 * ((np.arange(2 ** len(values))[:, None] >> np.arange(len(values))) & 1)
    return signs @ values


def exact_p(diff: np.ndarray) -> float:
    """The exact two-sided p: the share of the 2^k sign patterns whose |Σ s·|d|| reaches |Σ d|."""
    values = np.abs(np.asarray(diff, dtype=np.float64))
    threshold = abs(float(np.sum(diff))) - REL_TIE * float(values.sum())
    if threshold <= 0:
        return 1.0
    half = len(values) // 2
    left, right = _signed_sums(values[:half]), np.sort(_signed_sums(values[half:]))
    upper = len(right) - np.searchsorted(right, threshold - left, side="left")
    lower = np.searchsorted(right, -threshold - left, side="right")
    return float((upper + lower).sum()) / 2.0 ** len(values)


def lattice_span(values: np.ndarray) -> float:
    """The spacing of the support of Σ s_i·v_i when the v (> 0) are integer multiples of one
    unit h (ratios rational with small denominators): 2·gcd·h, the sum's parity counted; 0 when
    they are not (a continuous metric)."""
    unique = np.unique(values)
    if len(unique) > _LATTICE_VALUES:
        return 0.0
    ratios = [Fraction(float(v / unique[0])).limit_denominator(1000) for v in unique]
    if any(
        abs(float(f) - v / unique[0]) > 1e-9 * (v / unique[0])
        for f, v in zip(ratios, unique, strict=True)
    ):
        return 0.0
    common = math.lcm(*(f.denominator for f in ratios))
    units = math.gcd(*(f.numerator * common // f.denominator for f in ratios))
    return 2.0 * units * float(unique[0]) / common


def _log_cosh(y: np.ndarray) -> np.ndarray:
    y = np.abs(y)
    return y + np.log1p(np.exp(-2.0 * y)) - math.log(2.0)


def saddlepoint_p(rows: list[np.ndarray]) -> np.ndarray:
    """Two-sided p per row of nonzero differences: 2·P(S ≥ |Σ d|) by Lugannani–Rice on the
    cumulant generating function K(t) = Σ log cosh(t·d) of the sign-flip sum S, evaluated half a
    lattice span below the observed sum where there is a lattice (Daniels' second correction)."""
    width = max(len(r) for r in rows)
    values = np.zeros((len(rows), width))  # zero padding adds nothing to K, K', K''
    for i, r in enumerate(rows):
        values[i, : len(r)] = np.abs(r)
    total = values.sum(axis=1)
    span = np.array([lattice_span(np.abs(r)) for r in rows])
    observed = np.array([abs(float(r.sum())) for r in rows])
    target = observed - span / 2
    variance = (values**2).sum(axis=1)
    at_edge = observed >= total * (1 - REL_TIE)  # every sign alike: only 2 patterns reach it
    t = _solve_saddlepoint(values, np.minimum(target, total * (1 - 1e-6)), variance)
    cgf = _log_cosh(t[:, None] * values).sum(axis=1)
    tanh = np.tanh(t[:, None] * values)
    curvature = (values**2 * (1 - tanh**2)).sum(axis=1)
    w = np.sqrt(np.maximum(2.0 * (t * target - cgf), 0.0))
    u = np.where(span > 0, 2.0 / np.where(span > 0, span, 1) * np.sinh(t * span / 2), t) * np.sqrt(
        curvature
    )
    near_zero = w < 1e-3  # the formula's removable singularity at the centre: the normal tail
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = stats.norm.sf(w) + stats.norm.pdf(w) * (1.0 / u - 1.0 / w)
    tail = np.where(near_zero, stats.norm.sf(target / np.sqrt(variance)), tail)
    counts = np.array([len(r) for r in rows], dtype=np.float64)
    tail = np.where(at_edge, 0.5**counts, tail)
    return np.clip(np.where(target <= 0, 1.0, 2.0 * tail), 0.0, 1.0)


def _solve_saddlepoint(values: np.ndarray, target: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """t ≥ 0 with K'(t) = Σ v·tanh(t·v) = target, per row. K' is increasing and concave on
    t ≥ 0, so Newton's steps from t = 0 rise to the root without overshooting it."""
    t = np.zeros(len(values))
    target = np.maximum(target, 0.0)
    for _ in range(_NEWTON_STEPS):
        tanh = np.tanh(t[:, None] * values)
        slope = (values * tanh).sum(axis=1)
        curvature = (values**2 * (1 - tanh**2)).sum(axis=1)
        step = (target - slope) / np.maximum(curvature, 1e-300)
        t = t + np.maximum(step, 0.0)
        if np.all(np.abs(target - slope) <= 1e-12 * np.maximum(target, variance**0.5)):
            break
    return t

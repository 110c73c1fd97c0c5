"""The paired sign-flip (randomization) test with a p-value whose resolution does not depend on a
number of draws (contributing/statistics.md, "The sign-flip test").

H0: each doc's difference is symmetric about 0 (as likely to be d as −d: the two rows are
interchangeable on every doc). The randomization distribution of S = Σ s_i·|d_i| over the 2^k
sign patterns of the k docs that differ is then the exact null. It is computed exactly where it
can be: by enumeration where k ≤ EXACT_MAX (meet in the middle: 2·2^(k/2) sums, not 2^k); where
the |d| are integer multiples of one unit (0/1 members of a group of any task sizes, graded
scores), by convolving the distribution of the units' sum (cost k·Σm, at most LATTICE_WORK).
Otherwise the Lugannani–Rice saddlepoint approximation of the same distribution, the few |d| that
would dominate the sum (outliers) enumerated exactly around it and, where the rest lies on a
lattice, each target moved onto that lattice before Daniels' continuity correction. The
approximation's error is relative, so a p of 1e-9 is as accurate as one of 0.04: a correction over
hundreds of pairs never meets a floor. Ties: sums within REL_TIE·Σ|d| of the observed one count as
reaching it.
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
DOMINANT = 0.1  # a |d| whose square exceeds this share of the rest's Σ d² is enumerated
_ENUMERATE_MAX = 12  # dominant |d| enumerated at most (2^12 sums)
_WORK = 1 << 24  # sums × distinct |d| at most for the enumerated part
GAP = 3.0  # |d| this many standard deviations of the rest's sum above it are enumerated
_REST_MIN = 8  # |d| left to the saddlepoint at least
LATTICE_WORK = 1 << 26  # k × Σ m at most for the exact lattice convolution
LEVELS_WORK = 1 << 22  # sign patterns of all but one distinct |d| at most for the exact convolution


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
    for r in np.flatnonzero(differing > EXACT_MAX):
        values = rows[r, nonzero[r]]
        exact = levels_p(values)
        exact = lattice_p(values) if exact is None else exact
        p[r] = exact if exact is not None else saddlepoint_p([values])[0]
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


def integer_multiples(values: np.ndarray) -> tuple[float, np.ndarray] | None:
    """(h, m) with every value (> 0) = m·h, the m integers with no common divisor, when the values'
    ratios are rational with small denominators (0/1 members, graded scores, a group's weights
    N/(T·n_t)); None for a continuous metric."""
    unique = np.unique(values)
    if len(unique) > _LATTICE_VALUES:
        return None
    ratios = [Fraction(float(v / unique[0])).limit_denominator(1 << 20) for v in unique]
    if any(
        abs(float(f) - v / unique[0]) > 1e-9 * (v / unique[0])
        for f, v in zip(ratios, unique, strict=True)
    ):
        return None
    common = math.lcm(*(f.denominator for f in ratios))
    numerators = [f.numerator * (common // f.denominator) for f in ratios]
    units = math.gcd(*numerators)
    h = units * float(unique[0]) / common
    if sum(n // units for n in numerators) * len(values) > 1 << 50:
        return None  # so fine a lattice is a continuum (continuous values near small fractions)
    lookup = {float(u): n // units for u, n in zip(unique, numerators, strict=True)}
    return h, np.array([lookup[float(v)] for v in values], dtype=np.int64)


def lattice_span(values: np.ndarray) -> float:
    """The spacing of the support of Σ s_i·v_i when the v (> 0) are integer multiples of one
    unit h: 2h (the sum's parity counted); 0 when they are not (a continuous metric)."""
    found = integer_multiples(values)
    return 0.0 if found is None else 2.0 * found[0]


def levels_p(diff: np.ndarray) -> float | None:
    """The exact two-sided p where the |d| take few distinct values v_j (count c_j): S is then
    Σ_j v_j·(2X_j − c_j), X_j ~ Binomial(c_j, ½) independent (a 0/1 group: one value per task,
    of any size). Every X_j but the most frequent's is enumerated (at most LEVELS_WORK
    combinations), the last one's tail read from the binomial. None beyond that."""
    values = np.abs(np.asarray(diff, dtype=np.float64))
    levels, counts = np.unique(values, return_counts=True)
    last = int(np.argmax(counts))
    others = np.delete(np.arange(len(levels)), last)
    if math.prod(int(counts[j]) + 1 for j in others) > LEVELS_WORK:
        return None
    observed = abs(float(np.sum(diff))) - REL_TIE * float(values.sum())
    if observed <= 0:
        return 1.0
    partial, weight = np.zeros(1), np.ones(1)
    for j in others:
        x = np.arange(counts[j] + 1)
        partial = (partial[:, None] + levels[j] * (2 * x - counts[j])).ravel()
        weight = (weight[:, None] * stats.binom.pmf(x, counts[j], 0.5)).ravel()
    v, c = levels[last], int(counts[last])
    # |partial + v·(2X − c)| ≥ observed: X ≥ (c + (observed − partial)/v)/2 or X ≤ (c − (observed + partial)/v)/2
    above = np.ceil((c + (observed - partial) / v) / 2 - 1e-9)
    below = np.minimum(np.floor((c - (observed + partial) / v) / 2 + 1e-9), above - 1)
    tail = stats.binom.sf(above - 1, c, 0.5) + stats.binom.cdf(below, c, 0.5)
    return float(min(1.0, np.dot(weight, tail)))


def lattice_p(diff: np.ndarray) -> float | None:
    """The exact two-sided p where every |d| is an integer multiple m_i of one unit h and
    k·Σm ≤ LATTICE_WORK: S = h·(M − 2T), T the sum of the m_i of the docs whose sign flips, whose
    distribution is the convolution of each distinct m's m·Binomial(count, ½). None otherwise."""
    values = np.abs(np.asarray(diff, dtype=np.float64))
    found = integer_multiples(values)
    if found is None:
        return None
    h, m = found
    total = int(m.sum())
    if len(m) * total > LATTICE_WORK:
        return None
    observed = abs(float(np.sum(diff))) / h  # on the lattice M − 2T, up to float error
    pmf = np.zeros(total + 1)
    pmf[0] = 1.0
    for value, count in zip(*np.unique(m, return_counts=True), strict=True):
        weights = stats.binom.pmf(np.arange(count + 1), count, 0.5)
        spread = np.zeros_like(pmf)
        for j, w in enumerate(weights):
            spread[j * value :] += w * pmf[: total + 1 - j * value]
        pmf = spread
    t = np.arange(total + 1)
    reach = np.abs(total - 2 * t) >= observed - REL_TIE * total
    return float(min(1.0, pmf[reach].sum()))


def _log_cosh(y: np.ndarray) -> np.ndarray:
    y = np.abs(y)
    return y + np.log1p(np.exp(-2.0 * y)) - math.log(2.0)


def saddlepoint_p(rows: list[np.ndarray]) -> np.ndarray:
    """Two-sided p = 2·P(S ≥ |Σ d|) per row of nonzero differences (`saddlepoint_tail`)."""
    return np.array(
        [min(1.0, 2.0 * saddlepoint_tail(np.asarray(r, dtype=np.float64))) for r in rows]
    )


def saddlepoint_tail(diff: np.ndarray) -> float:
    """P(S ≥ |Σ d|) of the sign-flip sum S: the few |d| that dominate it (`_dominant`) are
    enumerated exactly, and the sum R of the rest is approximated by Lugannani–Rice at each of
    their 2^m sums b: P(S ≥ x) = mean_b P(R ≥ x − b)."""
    values = np.sort(np.abs(diff))[::-1]
    observed = abs(float(np.sum(diff)))
    if observed >= values.sum() * (1 - REL_TIE):  # every sign alike: only this pattern reaches it
        return 0.5 ** len(values)
    big = _dominant(values)
    rest = values[big:]
    targets = observed - _signed_sums(values[:big])
    return float(np.mean(_tail(rest, targets)))


def _dominant(values: np.ndarray) -> int:
    """How many of the largest |d| (sorted descending) to enumerate: those whose squares each
    exceed DOMINANT of what remains, and those standing apart from the rest (the smallest of them
    over GAP standard deviations of the rest's sum: S is then a mixture of separate clusters)."""
    cap = min(
        _ENUMERATE_MAX, len(values) - _REST_MIN, int(math.log2(max(2.0, _WORK / len(values))))
    )
    rest_sd = np.sqrt(np.cumsum((values**2)[::-1])[::-1])  # rest_sd[j]: of values[j:]
    single = 0
    while single < cap and values[single] ** 2 > DOMINANT * rest_sd[single] ** 2:
        single += 1
    apart = [j for j in range(1, cap + 1) if values[j - 1] > GAP * rest_sd[j]]
    return max(single, max(apart, default=0))


def _tail(values: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """P(R ≥ y) for each target y, R = Σ s_i·v_i over random signs: Lugannani–Rice on
    K(t) = Σ log cosh(t·v); where R lives on a lattice, y first moved up to the lattice's next
    point and then half a span below it (Daniels' second continuity correction); 1 − P(R ≥ −y)
    below the centre by symmetry."""
    unique, counts = np.unique(values, return_counts=True)
    total, variance = float(values.sum()), float(np.sum(values**2))
    span = lattice_span(values)
    if span > 0:  # R takes the values total − span·j only: a target between two is the next one up
        steps = np.floor((total - targets) / span + REL_TIE * len(values))
        targets = total - span * steps
    shifted = targets - span / 2
    z = np.abs(shifted)
    t = _solve_saddlepoint(unique, counts, np.minimum(z, total * (1 - 1e-6)), variance)
    tanh = np.tanh(t[:, None] * unique)
    cgf = (counts * _log_cosh(t[:, None] * unique)).sum(axis=1)
    curvature = (counts * unique**2 * (1 - tanh**2)).sum(axis=1)
    w = np.sqrt(np.maximum(2.0 * (t * z - cgf), 0.0))
    u = (2.0 / span * np.sinh(t * span / 2) if span > 0 else t) * np.sqrt(curvature)
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = stats.norm.sf(w) + stats.norm.pdf(w) * (1.0 / u - 1.0 / w)
    upper = np.where(w < 1e-3, stats.norm.sf(z / math.sqrt(variance)), upper)  # the centre
    upper = np.clip(upper, 0.0, 0.5)
    tail = np.where(shifted >= 0, upper, 1.0 - upper)
    tail = np.where(np.abs(targets - total) <= REL_TIE * total, 0.5 ** len(values), tail)
    return np.where(
        targets > total * (1 + REL_TIE), 0.0, np.where(targets < -total * (1 + REL_TIE), 1.0, tail)
    )


def _solve_saddlepoint(
    values: np.ndarray, counts: np.ndarray, target: np.ndarray, variance: float
) -> np.ndarray:
    """t ≥ 0 with K'(t) = Σ c·v·tanh(t·v) = target, per target. K' is increasing and concave on
    t ≥ 0, so Newton's steps from t = 0 rise to the root without overshooting it."""
    t = np.zeros(len(target))
    for _ in range(_NEWTON_STEPS):
        tanh = np.tanh(t[:, None] * values)
        slope = (counts * values * tanh).sum(axis=1)
        curvature = (counts * values**2 * (1 - tanh**2)).sum(axis=1)
        t = t + np.maximum((target - slope) / np.maximum(curvature, 1e-300), 0.0)
        if np.all(np.abs(target - slope) <= 1e-12 * np.maximum(target, math.sqrt(variance))):
            break
    return t

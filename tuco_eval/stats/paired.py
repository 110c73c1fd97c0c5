"""Paired comparisons of checkpoints scored on the same documents (see docs/statistics.md).

For every pair of rows (a, b), a before b: the score difference score_b − score_a, a paired
bootstrap interval of it, and a paired test of "no difference" — the exact McNemar test for 0/1
metrics, the sign-flip randomization test otherwise (exact, or its saddlepoint approximation:
`sign_flip`) — Holm's correction within one family of pairs (`FAMILIES`: against the base,
step against step, or all) of one task, and each test's spread under "no difference" for its
power (`power`); the report's correction across tasks is `multiplicity`. A group (the unweighted mean of its tasks' scores) gets
the same statistic consistently: the mean of its tasks' differences, a sign-flip test on per-doc
differences weighted 1/(T·n_t), and a bootstrap stratified by task. Pure numpy/scipy, all pairs
of a task in one array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from tuco_eval.stats.cv import resample_batch
from tuco_eval.stats.cv_bootstrap import resample_counts
from tuco_eval.stats.multiplicity import holm
from tuco_eval.stats.power import mcnemar_spread, sign_flip_spread
from tuco_eval.stats.sign_flip import sign_flip_p

MCNEMAR = "mcnemar"  # exact, two-sided: binomial test of the discordant docs at 1/2
SIGN_FLIP = "sign-flip"  # paired permutation test of the mean difference
CLUSTER_SIGN_FLIP = "sign-flip-clusters"  # the same over clusters' sums: clustered docs


@dataclass(frozen=True)
class PairTests:
    """The pairs of one task or group: ``a[k]``, ``b[k]`` index the rows, a < b."""

    a: np.ndarray  # [P] int
    b: np.ndarray  # [P] int
    n: int  # docs compared (a group: all its tasks' docs)
    diff: np.ndarray  # [P] score_b − score_a
    low: np.ndarray  # [P] bootstrap interval of diff
    high: np.ndarray  # [P]
    p: np.ndarray  # [P]
    p_holm: np.ndarray  # [P] Holm-adjusted over these pairs
    test: str  # MCNEMAR or SIGN_FLIP
    null_spread: np.ndarray | None = None  # [P] the test's spread under "no difference" (power.py)


Pairs = tuple[np.ndarray, np.ndarray]  # (a, b): row indices, a < b

# the families of pairs Holm's correction runs within (docs/statistics.md, "Families of pairs")
FAMILIES = {
    "base": "each checkpoint against the base",
    "adjacent": "each row against the row before it (each step against the previous one)",
    "all": "every two rows",
}


def pair_indices(n_rows: int) -> Pairs:
    """(a, b) of every pair of rows, a < b, in row order: (0, 1), (0, 2), ..., (1, 2), ..."""
    a, b = np.triu_indices(n_rows, k=1)
    return a.astype(np.int64), b.astype(np.int64)


def family_pairs(family: str, is_base: Sequence[bool]) -> Pairs:
    """The pairs of one family over rows in report order (``is_base[r]``: row r is a base):
    "base" every (base, checkpoint), "adjacent" every (r − 1, r), "all" every two rows."""
    n = len(is_base)
    if family == "all":
        return pair_indices(n)
    if family == "adjacent":
        return np.arange(n - 1, dtype=np.int64), np.arange(1, n, dtype=np.int64)
    if family == "base":
        a, b = pair_indices(n)
        keep = np.array(
            [is_base[i] and not is_base[j] for i, j in zip(a, b, strict=True)], dtype=bool
        )
        return a[keep], b[keep]
    raise ValueError(f"unknown family of pairs {family!r}; one of {', '.join(FAMILIES)}")


def default_families(has_base: bool, is_series: bool) -> tuple[str, ...]:
    """The questions a report answers unless told: against the base where there is one, step
    against step where the rows are a training series (every checkpoint has a step), else all
    pairs. Holm's m then grows as k, not k(k + 1)/2, with the number k of checkpoints."""
    chosen = (("base",) if has_base else ()) + (("adjacent",) if is_series else ())
    return chosen or ("all",)


def is_binary(scores: np.ndarray) -> bool:
    """Whether every score is 0 or 1 (accuracy, exact match): McNemar's test applies."""
    return bool(np.isin(scores, (0.0, 1.0)).all())


def mcnemar_p(n01: np.ndarray, n10: np.ndarray) -> np.ndarray:
    """Exact two-sided McNemar p of the discordant counts (wrong→right, right→wrong).

    `scipy.stats.binomtest(n01, n01 + n10, 0.5).pvalue`, vectorised: at p = 1/2 the binomial is
    symmetric, so the two-sided p is min(1, 2·P(X ≤ min(n01, n10))); no discordant doc: p = 1."""
    n01, n10 = np.asarray(n01, dtype=np.int64), np.asarray(n10, dtype=np.int64)
    tail = stats.binom.cdf(np.minimum(n01, n10), n01 + n10, 0.5)
    return np.where(n01 + n10 == 0, 1.0, np.minimum(1.0, 2.0 * tail))


def pairs_bootstrap_ci(
    members: Sequence[np.ndarray],
    a: np.ndarray,
    b: np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of every pair's score difference, per pair (a[k], b[k]).

    ``members[t]`` is task t's (rows × docs) scores; a row's score is the unweighted mean over
    tasks of its mean over docs (one task: its mean). `scipy.stats.bootstrap` with one sample
    per task resamples the docs within each task (stratified), the same docs for every row, so
    each pair's interval is the paired bootstrap of its per-doc differences (`cv.paired_bootstrap_ci`
    on them, for one task and few enough docs to resample in one batch, gives the same interval).
    """
    members = [np.asarray(m, dtype=np.float64) for m in members]

    def pair_differences(*samples: np.ndarray, axis: int) -> np.ndarray:
        rows = sum(s.mean(axis=axis) for s in samples) / len(samples)  # (rows × resamples)
        return rows[b] - rows[a]

    point = pair_differences(*members, axis=-1)
    constant = np.all([np.ptp(m[b] - m[a], axis=-1) == 0 for m in members], axis=0)
    if np.all(constant):  # every resample gives the point value
        return point.copy(), point.copy()
    result = stats.bootstrap(
        tuple(members),
        pair_differences,
        n_resamples=n_boot,
        batch=resample_batch(sum(m.size for m in members)),
        vectorized=True,
        axis=-1,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng([seed, 1]),  # cv's bootstrap stream
    )
    interval = result.confidence_interval
    return np.where(constant, point, interval.low), np.where(constant, point, interval.high)


def task_pairs(
    scores: np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    pairs: Pairs | None = None,
    clusters: np.ndarray | None = None,
) -> PairTests:
    """The pairs of rows of one task (all pairs unless ``pairs``; Holm over them): ``scores[r, d]``
    is row r's score on doc d (same docs); ``clusters`` (a label per doc): `clustered_pairs`."""
    scores = np.asarray(scores, dtype=np.float64)
    a, b = pairs if pairs is not None else pair_indices(scores.shape[0])
    if clusters is not None:
        return clustered_pairs([scores], [clusters], a, b, n_boot, seed, level)
    n = scores.shape[1]
    if is_binary(scores):
        # discordant counts of every ordered pair of rows at once: (1 − S) S^T counts 0 → 1
        n01 = ((1.0 - scores) @ scores.T).round()
        p, test = mcnemar_p(n01[a, b], n01[b, a]), MCNEMAR
        spread = mcnemar_spread(n01[a, b] + n01[b, a], n)
    else:
        p, test = sign_flip_p(scores[b] - scores[a]), SIGN_FLIP
        spread = sign_flip_spread(scores[b] - scores[a], n)
    low, high = pairs_bootstrap_ci([scores], a, b, n_boot, seed, level)
    diff = scores.mean(axis=1)[b] - scores.mean(axis=1)[a]
    return PairTests(a, b, n, diff, low, high, p, holm(p), test, np.atleast_1d(spread))


def group_weights(sizes: Sequence[int]) -> np.ndarray:
    """Per-doc weight N / (T · n_t) of each doc of task t, so that the mean of the weighted
    differences is the unweighted mean over the T tasks of their mean differences."""
    sizes = np.asarray(sizes, dtype=np.float64)
    return np.repeat(sizes.sum() / (len(sizes) * sizes), sizes.astype(np.int64))


def group_pairs(
    members: Sequence[np.ndarray],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    pairs: Pairs | None = None,
    clusters: Sequence[np.ndarray | None] | None = None,
) -> PairTests:
    """The pairs of rows (all unless ``pairs``; Holm over them) of a group whose score is the
    unweighted mean of its tasks' scores: ``members[t]`` is task t's (rows × docs) scores, the
    same rows in each; ``clusters[t]`` task t's cluster labels where any task has them
    (`clustered_pairs`, a task without: each doc its own cluster)."""
    members = [np.asarray(m, dtype=np.float64) for m in members]
    a, b = pairs if pairs is not None else pair_indices(members[0].shape[0])
    if clusters is not None and any(c is not None for c in clusters):
        return clustered_pairs(members, clusters, a, b, n_boot, seed, level)
    sizes = [m.shape[1] for m in members]
    weighted = np.concatenate([m[b] - m[a] for m in members], axis=1) * group_weights(sizes)
    p = np.atleast_1d(sign_flip_p(weighted))  # its mean is the group's difference
    low, high = pairs_bootstrap_ci(members, a, b, n_boot, seed, level)
    rows = np.mean([m.mean(axis=1) for m in members], axis=0)
    spread = sign_flip_spread(weighted, sum(sizes))
    return PairTests(a, b, sum(sizes), rows[b] - rows[a], low, high, p, holm(p), SIGN_FLIP, spread)


def clustered_pairs(
    members: Sequence[np.ndarray],
    clusters: Sequence[np.ndarray | None],
    a: np.ndarray,
    b: np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> PairTests:
    """Pairs of a task or group whose docs are clustered (docs of one cluster may move together):
    under "no difference" each cluster's summed difference is symmetric about 0, so the sign-flip
    test runs on the clusters' sums of the (group-weighted) differences; the bootstrap resamples
    clusters within each task. A group's score stays the unweighted mean over its tasks."""
    sizes = [m.shape[1] for m in members]
    n_total, n_tasks = sum(sizes), len(members)
    summed, counts = [], []
    for m, labels, size in zip(members, clusters, sizes, strict=True):
        codes = np.arange(size) if labels is None else np.unique(labels, return_inverse=True)[1]
        width = int(codes.max()) + 1
        summed.append(np.stack([np.bincount(codes, row, minlength=width) for row in m]))  # [rows, C]
        counts.append(np.bincount(codes, minlength=width).astype(np.float64))
    weights = [n_total / (n_tasks * size) for size in sizes]
    weighted = np.concatenate([w * (s[b] - s[a]) for w, s in zip(weights, summed, strict=True)], axis=1)
    p = np.atleast_1d(sign_flip_p(weighted))  # Σ of the cluster sums / N is the group's difference
    rows = np.mean([m.mean(axis=1) for m in members], axis=0)
    rng = np.random.default_rng([seed, 1])
    resampled = np.zeros((n_boot, len(rows)))
    for s, n_c in zip(summed, counts, strict=True):
        drawn = resample_counts(len(n_c), n_boot, rng)  # [B, C]: clusters within this task
        resampled += (drawn @ s.T) / np.maximum(drawn @ n_c, 1.0)[:, None] / n_tasks
    differences = resampled[:, b] - resampled[:, a]
    low, high = np.quantile(differences, [(1 - level) / 2, (1 + level) / 2], axis=0)
    spread = sign_flip_spread(weighted, n_total)
    return PairTests(a, b, n_total, rows[b] - rows[a], low, high, p, holm(p), CLUSTER_SIGN_FLIP, spread)

"""Cross-validated choice of the fine-tuning scale α, exactly as in the TuCo paper.

For each of K folds of the docs, α is chosen on the other K-1 folds and scored on the held-out
fold; the out-of-sample score minus the α = 1 score is the gain Δ_CV. Everything here is a pure,
seeded function of an (α × doc) score matrix, scikit-learn style: the folds come from a splitter
(`splitter`: the paper's seeded 5-fold by default, or any scikit-learn splitter), one task's
result is a `TaskCV`, its p-value and interval from the CV rerun on α-permuted data (`alpha_null`).
A RUN_DIR's cv.json is `run_cv`; groups of tasks `group_figures`. docs/statistics.md.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import stats
from sklearn.model_selection import KFold, check_cv

from tuco_eval.stats.alpha_null import MAX_DRAWS, TIE_TOL, AlphaNull, two_stage_p
from tuco_eval.stats.cv_bootstrap import (
    best_gain_bound,
    bootstrap_draws,
    compatible_interval,
    delta_interval,
)
from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import format_alpha

OBJECTIVES = ("max", "min")
SIGNIFICANCE_LEVEL = 0.05
LEVEL = 0.95  # of every interval
_CHUNK = 1 << 22  # resampled values held in memory at once


@dataclass(frozen=True)
class TaskCV(Mapping):
    """One task's cross-validated gain (a row of cv.json's "tasks"): attributes for code, and a
    read-only mapping with the JSON keys (`dict(result)`, `result["delta_cv"]`)."""

    n: int
    acc_alpha1: float  # mean score at α = 1
    acc_cv: float  # mean out-of-fold score at the α chosen on the other folds
    delta_cv: float  # acc_cv − acc_alpha1, in the metric's own direction
    alphas_chosen: list[float]  # per fold
    acc_by_alpha: dict[str, float]  # mean score at each α of the grid (format_alpha keys)
    ci95: list[float]  # interval of E[Δ_CV] (document bootstrap), compatible with p (cv_bootstrap)
    p_value: float  # α-permutation test of "α has no effect", the CV rerun per draw
    significant: bool  # p < SIGNIFICANCE_LEVEL and a gain in the objective's direction (unadjusted)
    se: float = 0.0  # bootstrap standard deviation of Δ_CV (the CV rerun per resample)
    null_sd: float = 0.0  # standard deviation of Δ_CV under "α has no effect" (the permutations)
    best_gain_bound: float = 0.0  # simultaneous upper bound of the best α's gain (objective's units, ≥ 0)
    n_draws: int = 0  # α-permutations behind p (2,000, or MAX_DRAWS where p ≲ 0.01)
    n_clusters: int | None = None  # clusters resampled and permuted as units; None: docs

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    @classmethod
    def _keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class TaskDraws:
    """What a group's inference needs of a member task: its Δ_CV, its bootstrap draws and its
    α-permutation null (drawn on demand)."""

    delta: float
    boot: np.ndarray  # [B] Δ_CV of the document resamples
    null: AlphaNull
    scale: float  # the scores' scale (ties of Δ's)


class CVError(TucoError):
    """Cross-validation cannot run on this input; the message names the fix."""


class TooFewForFolds(CVError):
    """Fewer docs (or clusters) than folds: fewer folds, or more docs, is the fix."""


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
    tied = np.flatnonzero(values >= best - TIE_TOL * max(1.0, abs(best)))
    return int(min(tied, key=lambda i: closest_to_one(float(grid[i]))))


Folds = int | Any  # a number of folds, a scikit-learn splitter, or (train, test) index pairs


def splitter(folds: Folds = 5, seed: int = 0) -> Any:
    """scikit-learn's `check_cv` with the paper's default: a number k of folds is
    `KFold(k, shuffle=True, random_state=seed)` (check_cv's own would not shuffle); a splitter
    (anything with `split`) or an iterable of (train, test) index arrays is used as it is."""
    if isinstance(folds, numbers.Integral) and not isinstance(folds, bool):
        if folds < 2:
            raise CVError(f"--folds must be at least 2, got {folds}")
        return KFold(n_splits=int(folds), shuffle=True, random_state=seed)
    return check_cv(folds)


def fold_test_indices(
    n_docs: int, folds: Folds = 5, seed: int = 0, clusters: np.ndarray | None = None
) -> list[np.ndarray]:
    """Held-out doc positions of each fold; every doc must be held out exactly once (K-fold
    style: each doc gets one out-of-sample score). With ``clusters`` (a label per doc) the
    splitter splits the clusters and a cluster's docs are held out together."""
    if clusters is None:
        tests = [np.asarray(test) for _, test in splitter(folds, seed).split(np.zeros((n_docs, 1)))]
    else:
        labels, unit_of = np.unique(np.asarray(clusters), return_inverse=True)
        if isinstance(folds, numbers.Integral) and len(labels) < folds:
            raise TooFewForFolds(
                f"{len(labels)} clusters cannot be split into {folds} folds; use fewer folds or no cluster key"
            )
        units = splitter(folds, seed).split(np.zeros((len(labels), 1)))
        tests = [np.flatnonzero(np.isin(unit_of, test)) for _, test in units]
    held_out = np.concatenate(tests) if tests else np.array([], dtype=np.int64)
    if len(held_out) != n_docs or not np.array_equal(np.sort(held_out), np.arange(n_docs)):
        raise CVError(
            f"the folds must hold out each of the {n_docs} docs exactly once (as K-fold does); "
            "use KFold-like splitters"
        )
    return tests


def out_of_fold(
    scores: np.ndarray, grid: np.ndarray, folds: Folds, seed: int, objective: str,
    clusters: np.ndarray | None = None,
) -> tuple[list[int], np.ndarray]:
    """The K-fold loop: per fold, the α index chosen on the other folds; per doc, its score there."""
    chosen: list[int] = []
    score_cv = np.empty(scores.shape[1])
    for test in fold_test_indices(scores.shape[1], folds, seed, clusters):
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


def _check_inputs(
    scores: np.ndarray, grid: np.ndarray, folds: Folds, clusters: np.ndarray | None = None
) -> int:
    if scores.ndim != 2 or scores.shape[0] != len(grid):
        raise CVError(f"scores must be (alphas x docs) = ({len(grid)} x N), got {scores.shape}")
    if not np.isclose(grid, 1.0, rtol=0, atol=1e-12).any():
        raise CVError(f"alpha=1.0 must be in the grid to measure a gain; got {grid.tolist()}")
    if isinstance(folds, numbers.Integral) and folds < 2:
        raise CVError(f"--folds must be at least 2, got {folds}")
    if isinstance(folds, numbers.Integral) and scores.shape[1] < folds:
        raise TooFewForFolds(f"{scores.shape[1]} docs cannot be split into {folds} folds; use fewer folds")
    if clusters is not None and len(clusters) != scores.shape[1]:
        raise CVError(f"{len(clusters)} cluster labels for {scores.shape[1]} docs; give one per doc")
    if not np.isfinite(scores).all():
        raise CVError("scores contain NaN or infinity")
    return int(np.flatnonzero(np.isclose(grid, 1.0, rtol=0, atol=1e-12))[0])


def cross_validate_scores(
    scores: np.ndarray,
    alphas: Sequence[float] | np.ndarray,
    folds: Folds = 5,
    seed: int = 0,
    objective: str = "max",
    n_boot: int = 2000,
    clusters: np.ndarray | None = None,
    stream: int = 0,
    max_draws: int = MAX_DRAWS,
) -> TaskCV:
    """K-fold cross-validated gain of choosing α, for one task.

    ``scores[i, d]`` is doc d's score at ``alphas[i]``; columns must be sorted by doc_id.
    ``folds``: a number of folds (the paper's seeded K-fold) or a splitter (`splitter`).
    ``delta_cv`` = acc_cv − acc_alpha1 in the metric's own direction: for objective "min" a
    gain is a negative delta. ``n_boot`` document resamples give the interval of E[Δ_CV]
    (`cv_bootstrap`) and at least as many α-permuted data sets the p-value (`alpha_null`: H0 "α
    has no effect on any doc", the choice of α rerun in each). ``clusters`` (a label per doc)
    keeps a cluster's docs in one fold, resampled and permuted together. ``stream`` separates
    the random draws of tasks cross-validated side by side (a group's tasks must not share them).
    Where fewer than 10 permuted Δ's reach the observed one, p is redone with ``max_draws``.
    """
    return cross_validate_task(scores, alphas, folds, seed, objective, n_boot, clusters, stream, max_draws)[0]


def cross_validate_task(
    scores: np.ndarray,
    alphas: Sequence[float] | np.ndarray,
    folds: Folds = 5,
    seed: int = 0,
    objective: str = "max",
    n_boot: int = 2000,
    clusters: np.ndarray | None = None,
    stream: int = 0,
    max_draws: int = MAX_DRAWS,
) -> tuple[TaskCV, TaskDraws]:
    """`cross_validate_scores` and the draws behind it, for a group's inference (`group_cv`)."""
    scores = np.asarray(scores, dtype=np.float64)
    grid = np.asarray(alphas, dtype=np.float64)
    sign = objective_sign(objective)
    one = _check_inputs(scores, grid, folds, clusters)
    chosen, score_cv = out_of_fold(scores, grid, folds, seed, objective, clusters)
    delta = float((score_cv - scores[one]).mean())
    # the α choice inside the uncertainty: the whole CV rerun on permuted and resampled data
    tests = fold_test_indices(scores.shape[1], folds, seed, clusters)
    preference = sorted(range(len(grid)), key=lambda i: closest_to_one(float(grid[i])))
    scale = float(np.abs(scores).max())
    null = AlphaNull(scores, tests, one, preference, sign, seed, stream, clusters)
    p_value, n_draws = two_stage_p(delta, null, n_boot, scale, max_draws)
    boot = bootstrap_draws(scores, tests, one, preference, sign, n_boot, seed, stream, clusters)
    se = float(boot.deltas.std())
    bound = best_gain_bound(scores, one, boot.gains, sign, LEVEL, clusters)
    interval = compatible_interval(
        delta, delta_interval(delta, se, bound, sign, LEVEL), p_value, null.draws(n_draws),
        SIGNIFICANCE_LEVEL,
    )
    result = TaskCV(
        n=int(scores.shape[1]),
        acc_alpha1=float(scores[one].mean()),
        acc_cv=float(score_cv.mean()),
        delta_cv=delta,
        alphas_chosen=[float(grid[i]) for i in chosen],
        acc_by_alpha={format_alpha(a): float(m) for a, m in zip(grid, scores.mean(axis=1), strict=True)},
        ci95=[interval[0], interval[1]],
        p_value=p_value,
        significant=bool(p_value < SIGNIFICANCE_LEVEL and sign * delta > 0),
        se=se,
        null_sd=float(null.draws(n_boot).std()),
        best_gain_bound=bound,
        n_draws=n_draws,
        n_clusters=None if clusters is None else int(len(np.unique(clusters))),
    )
    return result, TaskDraws(delta, boot.deltas, null, scale)


def most_chosen(alphas: Sequence[float]) -> float | None:
    """The α chosen most often (over folds, or over a group's tasks); ties as in `choose_alpha`."""
    if not alphas:
        return None
    counts: dict[float, int] = {}
    for alpha in map(float, alphas):
        counts[alpha] = counts.get(alpha, 0) + 1
    top = max(counts.values())
    return min((a for a, c in counts.items() if c == top), key=closest_to_one)


def closest_to_one(alpha: float) -> tuple[float, float]:
    """The tie-break of α: nearest to 1 first (distance rounded: |0.95 − 1| and |1.05 − 1| differ
    in the last bit but are the same tie), then the smaller."""
    return round(abs(alpha - 1.0), 9), alpha

"""Δ_CV's interval (stats/cv_bootstrap.py) against naive loops and hand-worked cases; its
coverage is measured in test_calibration.py."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tuco_eval.stats import alpha_null, cv
from tuco_eval.stats.cv_bootstrap import (
    best_gain_bound,
    bootstrap_draws,
    compatible_interval,
    delta_interval,
    fold_recentred,
    resample_counts,
)
from tuco_eval.util.params import PAPER_ALPHAS

GRID = np.array(PAPER_ALPHAS)
ONE = list(PAPER_ALPHAS).index(1.0)
PREFERENCE = sorted(range(len(GRID)), key=lambda i: cv.closest_to_one(float(GRID[i])))


def scores_with_gain(n_docs: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = (rng.random((len(GRID), n_docs)) < 0.5).astype(float)
    scores[GRID.tolist().index(1.1)] = np.maximum(scores[ONE], rng.random(n_docs) < 0.2)
    return scores


def naive_resampled_delta(scores, fold_of, copies, sign=1.0):
    """The CV of one resample written out: each doc repeated ``copies[d]`` times in its own fold,
    each fold's mean gain first moved to the task's (a doc's deviation from its fold's mean
    scaled by sqrt(n_k / (n_k − 1))), α chosen per fold on the other folds' copies (ties:
    closest to 1, then smaller)."""
    gains = scores - scores[ONE]
    world = scores.copy()
    for k in set(fold_of.tolist()):
        docs = [d for d in range(scores.shape[1]) if fold_of[d] == k]
        scale = (len(docs) / (len(docs) - 1)) ** 0.5
        for i in range(len(GRID)):
            fold_mean = sum(gains[i, d] for d in docs) / len(docs)
            for d in docs:
                world[i, d] = scores[ONE, d] + gains[i].mean() + (gains[i, d] - fold_mean) * scale
    rows = [(d, fold_of[d]) for d in range(scores.shape[1]) for _ in range(int(copies[d]))]
    held_out, reference = 0.0, 0.0
    for k in set(fold_of.tolist()):
        train = [d for d, f in rows if f != k]
        test = [d for d, f in rows if f == k]
        means = [sign * sum(world[i, d] for d in train) / len(train) for i in range(len(GRID))]
        best = max(range(len(GRID)), key=lambda i: (round(means[i], 12), -abs(GRID[i] - 1), -GRID[i]))
        held_out += sum(world[best, d] for d in test)
        reference += sum(world[ONE, d] for d in test)
    return (held_out - reference) / len(rows)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_each_draw_is_the_naive_cv_of_its_resample(sign):
    scores = scores_with_gain(23, seed=1)
    tests = cv.fold_test_indices(23, 5, seed=2)
    fold_of = np.empty(23, dtype=int)
    for k, t in enumerate(tests):
        fold_of[t] = k
    drawn = bootstrap_draws(scores, tests, ONE, PREFERENCE, sign, n_draws=12, seed=5, stream=9)
    counts = resample_counts(23, 12, np.random.default_rng([5, 3, 9]))  # the same stream
    for b in range(12):
        assert drawn.deltas[b] == pytest.approx(naive_resampled_delta(scores, fold_of, counts[b], sign), abs=1e-12)
        expected_gains = [(counts[b] * (scores[i] - scores[ONE])).sum() / 23 for i in range(len(GRID))]
        np.testing.assert_allclose(drawn.gains[b], expected_gains, atol=1e-12)


def test_resample_counts_draw_n_units_with_replacement():
    counts = resample_counts(7, 5000, np.random.default_rng(0))
    assert counts.shape == (5000, 7) and (counts.sum(axis=1) == 7).all()
    assert counts.mean() == pytest.approx(1.0) and counts.var() == pytest.approx(6 / 7, rel=0.05)


def test_fold_recentring_keeps_the_task_and_moves_each_folds_gain():
    scores = scores_with_gain(40, seed=3)
    fold_of = np.arange(40) % 5
    world = fold_recentred(scores, fold_of, ONE)
    np.testing.assert_array_equal(world[ONE], scores[ONE])
    np.testing.assert_allclose(world.mean(axis=1), scores.mean(axis=1), atol=1e-12)
    overall = (scores - scores[ONE]).mean(axis=1)
    for k in range(5):
        in_fold = fold_of == k
        np.testing.assert_allclose((world - world[ONE])[:, in_fold].mean(axis=1), overall, atol=1e-12)
        # the spread within the fold: the sample variance (ddof 1) of the gains, as a variance of n_k
        np.testing.assert_allclose((world - world[ONE])[:, in_fold].var(axis=1),
                                   (scores - scores[ONE])[:, in_fold].var(axis=1, ddof=1), atol=1e-12)


def test_clusters_are_resampled_whole():
    scores = scores_with_gain(30, seed=4)
    clusters = np.repeat(np.arange(10), 3)  # docs 3c, 3c+1, 3c+2 together
    tests = cv.fold_test_indices(30, 5, seed=0, clusters=clusters)
    for test in tests:  # a cluster's docs are held out together
        assert set(clusters[test]).isdisjoint(set(np.delete(clusters, test)))
    drawn = bootstrap_draws(scores, tests, ONE, PREFERENCE, n_draws=200, clusters=clusters)
    counts = resample_counts(10, 200, np.random.default_rng([0, 3, 0]))[:, clusters]
    expected = (counts @ (scores - scores[ONE]).T) / counts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(drawn.gains, expected, atol=1e-12)


def test_best_gain_bound_is_the_max_t_bound_written_out():
    scores = scores_with_gain(50, seed=6)
    tests = cv.fold_test_indices(50, 5, seed=0)
    drawn = bootstrap_draws(scores, tests, ONE, PREFERENCE, n_draws=400, seed=1)
    diffs = scores - scores[ONE]
    bound = best_gain_bound(scores, ONE, drawn.gains)
    rows = [i for i in range(len(GRID)) if i != ONE and diffs[i].std() > 0]
    se = {i: np.std(diffs[i], ddof=1) / np.sqrt(50) for i in rows}
    worst = [max((diffs[i].mean() - drawn.gains[b, i]) / se[i] for i in rows) for b in range(400)]
    c = np.quantile(worst, 0.975)
    assert bound == pytest.approx(max(0.0, max(diffs[i].mean() + c * se[i] for i in rows)))
    # for "min" the bound is of the largest decrease, in the objective's units
    low = best_gain_bound(-scores, ONE, -drawn.gains, sign=-1.0)
    assert low == pytest.approx(bound)


def test_the_interval_takes_the_larger_upper_end_and_mirrors_for_min():
    z = stats.norm.ppf(0.975)
    assert delta_interval(0.02, 0.01, 0.0) == pytest.approx((0.02 - z * 0.01, 0.02 + z * 0.01))
    assert delta_interval(0.02, 0.01, 0.09) == pytest.approx((0.02 - z * 0.01, 0.09))
    assert delta_interval(-0.02, 0.01, 0.09, sign=-1.0) == pytest.approx((-0.09, -0.02 + z * 0.01))


NULL = np.linspace(-0.02, 0.02, 401)  # permuted Δ's: the 97.5 % quantile 0.019, the 2.5 % −0.019


@pytest.mark.parametrize(
    ("delta", "interval", "p", "expected"),
    [
        (0.03, (0.01, 0.05), 0.01, (0.01, 0.05)),  # both agree: unchanged
        (0.03, (0.01, 0.05), 0.20, (0.0, 0.05)),  # the test keeps H0: 0 joins the interval
        (0.03, (-0.01, 0.05), 0.01, (0.03 - 0.019, 0.05)),  # the test finds a gain: its own bound
        (-0.03, (-0.05, 0.01), 0.01, (-0.05, -0.03 + 0.019)),  # a loss, the same the other way
        (-0.03, (-0.05, -0.01), 0.30, (-0.05, 0.0)),
        (0.0, (-0.02, 0.02), 1.0, (-0.02, 0.02)),
        (0.015, (-0.01, 0.05), 0.04, (0.0, 0.05)),  # ties: the test's bound below 0 stops at 0
    ],
)
def test_the_interval_and_the_test_say_one_thing(delta, interval, p, expected):
    assert compatible_interval(delta, interval, p, NULL) == pytest.approx(expected)


def test_cv_reports_the_bootstrap_spread_and_a_compatible_interval():
    scores = scores_with_gain(300, seed=7)
    r = cv.cross_validate_scores(scores, GRID, n_boot=500)
    tests = cv.fold_test_indices(300, 5, 0)
    drawn = bootstrap_draws(scores, tests, ONE, PREFERENCE, n_draws=500)
    assert r.se == pytest.approx(drawn.deltas.std())
    assert r.best_gain_bound == pytest.approx(best_gain_bound(scores, ONE, drawn.gains))
    raw = delta_interval(r.delta_cv, r.se, r.best_gain_bound)
    null = alpha_null.AlphaNull(scores, tests, ONE, PREFERENCE).draws(r.n_draws)
    assert r.ci95 == pytest.approx(list(compatible_interval(r.delta_cv, raw, r.p_value, null)))
    assert r.p_value < 0.05 and r.significant and r.ci95[0] > 0  # a gain: the interval above 0
    noise = cv.cross_validate_scores(scores_with_gain(300, seed=8)[[ONE] * len(GRID)], GRID, n_boot=500)
    assert noise.p_value == 1.0 and noise.ci95 == [0.0, 0.0]  # α moves nothing

"""Paired tests between checkpoints (tuco_eval.analysis.paired) against scipy, lm-eval and hand counts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from tuco_eval.analysis import cv, paired


def test_mcnemar_is_scipys_exact_binomial_test_on_the_discordant_docs():
    # hand count: 7 docs only B gets right, 1 only A: P(X <= 1 | 8, 1/2) = 9/256, two-sided 18/256
    assert paired.mcnemar_p(np.array([7]), np.array([1]))[0] == 0.0703125
    assert paired.mcnemar_p(np.array([0]), np.array([0]))[0] == 1.0  # no discordant doc
    n01, n10 = np.array(list(itertools.product(range(31), repeat=2))).T
    ours = paired.mcnemar_p(n01, n10)
    scipy_p = [stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0 for b, c in zip(n01, n10, strict=True)]
    np.testing.assert_allclose(ours, scipy_p, rtol=1e-12, atol=0)


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06
    adjusted = paired.holm(np.array([0.01, 0.04, 0.03, 0.005]))
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
    np.testing.assert_array_equal(paired.holm(np.array([0.5, 0.9])), [1.0, 1.0])  # capped at 1


def test_holm_matches_statsmodels():
    from statsmodels.stats import multitest  # a test dependency: a reference the code does not use
    p = np.random.default_rng(3).uniform(0, 0.08, size=15)
    p[4] = p[9]  # a tie
    expected = multitest.multipletests(p, alpha=0.05, method="holm")[1]
    np.testing.assert_allclose(paired.holm(p), expected, rtol=1e-12)


def _rows(*right: set[int], n: int = 60) -> np.ndarray:
    return np.array([[float(d in r) for d in range(n)] for r in right])


def test_b_beats_a_significantly_on_the_same_docs():
    a_right = set(range(20))
    b_right = a_right | set(range(20, 32))  # B keeps A's 20 and gets 12 more: 12 discordant, all B
    result = paired.task_pairs(_rows(a_right, b_right))
    assert result.test == paired.MCNEMAR
    assert result.diff[0] == pytest.approx(12 / 60)
    assert result.p[0] == stats.binomtest(12, 12, 0.5).pvalue == 2 * 0.5**12
    assert result.low[0] > 0  # the bootstrap interval excludes no gain


def test_b_does_not_beat_a_when_it_breaks_what_it_fixes():
    a_right = set(range(20))
    b_right = (a_right - {0, 1}) | {40, 41, 42}  # fixes 3, breaks 2: +1 doc
    result = paired.task_pairs(_rows(a_right, b_right))
    assert result.diff[0] == pytest.approx(1 / 60)
    assert result.p[0] == stats.binomtest(3, 5, 0.5).pvalue == 1.0
    assert result.low[0] < 0 < result.high[0]


def test_pairs_of_three_rows_each_as_if_tested_alone():
    rng = np.random.default_rng(0)
    scores = (rng.random((3, 80)) < [[0.3], [0.5], [0.7]]).astype(float)
    result = paired.task_pairs(scores)
    assert [(a, b) for a, b in zip(result.a, result.b, strict=True)] == [(0, 1), (0, 2), (1, 2)]
    for k, (a, b) in enumerate(zip(result.a, result.b, strict=True)):
        diff = scores[b] - scores[a]
        b_only, a_only = int(np.sum(diff > 0)), int(np.sum(diff < 0))
        assert result.p[k] == pytest.approx(stats.binomtest(b_only, b_only + a_only).pvalue, rel=1e-12)
        # the same resampled docs as cv's one-sample scipy bootstrap on this pair's differences
        assert (result.low[k], result.high[k]) == pytest.approx(cv.paired_bootstrap_ci(diff), abs=1e-12)
    np.testing.assert_allclose(result.p_holm, paired.holm(result.p))


def test_graded_scores_use_the_sign_flip_test():
    rng = np.random.default_rng(1)
    scores = rng.uniform(0, 1, size=(3, 50))
    scores[2] += 0.2
    result = paired.task_pairs(scores)
    assert result.test == paired.SIGN_FLIP
    for k, (a, b) in enumerate(zip(result.a, result.b, strict=True)):
        assert result.p[k] == cv.sign_flip_p_value(scores[b] - scores[a])  # its 1-D path
    assert result.p[2] < 0.01 and result.p[0] > 0.05


def test_sign_flip_of_a_matrix_is_its_rows_one_by_one():
    diff = np.random.default_rng(2).normal(0.1, 1, size=(4, 30))
    np.testing.assert_array_equal(cv.sign_flip_p_value(diff), [cv.sign_flip_p_value(d) for d in diff])


def test_group_difference_is_the_mean_of_its_tasks_differences():
    rng = np.random.default_rng(4)
    members = [(rng.random((3, n)) < 0.5).astype(float) for n in (10, 25, 70)]
    result = paired.group_pairs(members)
    group_scores = np.mean([m.mean(axis=1) for m in members], axis=0)  # unweighted over tasks
    np.testing.assert_allclose(result.diff, group_scores[result.b] - group_scores[result.a])
    assert result.test == paired.SIGN_FLIP and result.n == 105


def test_weighted_group_sign_flip_against_scipys_exact_permutation_test():
    # 3 + 5 docs: 2^8 sign patterns, which scipy enumerates exactly
    members = [np.array([[0.0, 1, 0], [1, 1, 1]]), np.array([[0.0, 0, 1, 0, 1], [1, 0, 1, 1, 1]])]
    weighted = np.concatenate([m[1] - m[0] for m in members]) * paired.group_weights([3, 5])
    assert weighted.mean() == pytest.approx(np.mean([m[1].mean() - m[0].mean() for m in members]))
    exact = stats.permutation_test(
        (weighted,), np.mean, permutation_type="samples", n_resamples=np.inf
    ).pvalue
    p = paired.group_pairs(members, n_boot=40000).p[0]
    assert abs(p - exact) < 4 * np.sqrt(exact * (1 - exact) / 40000) + 1e-4


def test_stratified_bootstrap_against_a_naive_loop():
    rng = np.random.default_rng(5)
    members = [(rng.random((2, n)) < p).astype(float) for n, p in ((30, 0.4), (200, 0.6))]
    result = paired.group_pairs(members, n_boot=4000)
    naive = np.random.default_rng(99)
    draws = []
    for _ in range(4000):  # resample each task's docs on its own, then the mean over tasks
        picks = [m[:, naive.integers(0, m.shape[1], m.shape[1])] for m in members]
        rows = np.mean([p.mean(axis=1) for p in picks], axis=0)
        draws.append(rows[1] - rows[0])
    low, high = np.percentile(draws, [2.5, 97.5])
    assert result.low[0] == pytest.approx(low, abs=0.015)
    assert result.high[0] == pytest.approx(high, abs=0.015)

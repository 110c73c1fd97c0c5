"""Paired tests between checkpoints (tuco_eval.stats.paired) against scipy, lm-eval and hand counts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from tuco_eval.stats import cv, paired, sign_flip


def test_mcnemar_is_scipys_exact_binomial_test_on_the_discordant_docs():
    # hand count: 7 docs only B gets right, 1 only A: P(X <= 1 | 8, 1/2) = 9/256, two-sided 18/256
    assert paired.mcnemar_p(np.array([7]), np.array([1]))[0] == 0.0703125
    assert paired.mcnemar_p(np.array([0]), np.array([0]))[0] == 1.0  # no discordant doc
    n01, n10 = np.array(list(itertools.product(range(31), repeat=2))).T
    ours = paired.mcnemar_p(n01, n10)
    scipy_p = [
        stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
        for b, c in zip(n01, n10, strict=True)
    ]
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
        assert result.p[k] == pytest.approx(
            stats.binomtest(b_only, b_only + a_only).pvalue, rel=1e-12
        )
        # the same resampled docs as cv's one-sample scipy bootstrap on this pair's differences
        assert (result.low[k], result.high[k]) == pytest.approx(
            cv.paired_bootstrap_ci(diff), abs=1e-12
        )
    np.testing.assert_allclose(result.p_holm, paired.holm(result.p))


def test_graded_scores_use_the_sign_flip_test():
    rng = np.random.default_rng(1)
    scores = rng.uniform(0, 1, size=(3, 50))
    scores[2] += 0.2
    result = paired.task_pairs(scores)
    assert result.test == paired.SIGN_FLIP
    for k, (a, b) in enumerate(zip(result.a, result.b, strict=True)):
        # 50 docs: the saddlepoint approximation, within Monte Carlo error of 40,000 sign draws
        diff = scores[b] - scores[a]
        signs = np.random.default_rng(k).choice([-1.0, 1.0], size=(40000, len(diff)))
        mc = np.mean(np.abs(signs @ diff) >= abs(diff.sum()) - 1e-9)
        assert result.p[k] == pytest.approx(mc, abs=4 * np.sqrt(mc * (1 - mc) / 40000) + 1e-4)
    assert result.p[2] < 0.01 and result.p[0] > 0.05


def test_sign_flip_of_a_matrix_is_its_rows_one_by_one():
    diff = np.random.default_rng(2).normal(0.1, 1, size=(4, 30))
    diff[1, 12:] = 0.0  # 12 docs differ: the exact path beside the approximate one
    np.testing.assert_array_equal(
        sign_flip.sign_flip_p(diff), [sign_flip.sign_flip_p(d) for d in diff]
    )


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
    assert paired.group_pairs(members).p[0] == pytest.approx(
        exact, rel=1e-12
    )  # exact: 6 docs differ


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


# ---- the sign-flip p: exact enumeration where few docs differ, saddlepoint above ------------------


def naive_sign_flip_p(diff: np.ndarray) -> float:
    """Every one of the 2^k sign patterns of the docs that differ, one by one."""
    values = [abs(d) for d in diff if d != 0]
    observed, scale = abs(sum(diff)), sum(values)
    hits = sum(
        abs(sum(s * v for s, v in zip(signs, values, strict=True))) >= observed - 1e-9 * scale
        for signs in itertools.product((-1, 1), repeat=len(values))
    )
    return hits / 2 ** len(values)


@pytest.mark.parametrize("k", [1, 2, 5, 9, 12])
@pytest.mark.parametrize("kind", ["continuous", "graded", "large"])
def test_p_equals_exact_enumeration_where_few_docs_differ(k, kind):
    rng = np.random.default_rng(k)
    values = {
        "continuous": rng.normal(0.3, 1, k),
        "graded": rng.choice([-1.0, -0.5, 0.5, 1.0], k),  # many tied sums
        "large": rng.choice([-2.0, 1.0, 3.0], k) * 1e4 + 0.1,  # summed log-likelihoods' scale
    }[kind]
    diff = np.concatenate([values, np.zeros(30)])  # docs alike do not count
    assert sign_flip.sign_flip_p(diff) == naive_sign_flip_p(values)


def test_twenty_docs_differ_enumerated_exactly():
    diff = np.random.default_rng(9).choice([-1.0, 1.0, 2.0], 20) * 7.3
    signs = 1 - 2 * ((np.arange(2**20)[:, None] >> np.arange(20)) & 1)  # all 2^20 patterns
    exact = np.mean(np.abs(signs @ np.abs(diff)) >= abs(diff.sum()) - 1e-9 * np.abs(diff).sum())
    assert sign_flip.sign_flip_p(diff) == exact


def test_ties_are_relative_to_the_scale():
    # 12 docs of ±1e4: sums tie the observed one exactly, but float rounding breaks an absolute 1e-12
    diff = np.array(
        [1e4 + 0.1, 1e4 + 0.2, -(2e4 + 0.3), 1e4, 1e4, -1e4, 1e4, 1e4, -1e4, 1e4, 1e4, 1e4]
    )
    assert sign_flip.sign_flip_p(diff) == naive_sign_flip_p(diff)
    assert sign_flip.sign_flip_p(diff * 1e-6) == sign_flip.sign_flip_p(diff)  # scale-free


@pytest.mark.parametrize("k", [21, 23, 26])
def test_saddlepoint_against_exact_enumeration_just_above_the_limit(k):
    rng = np.random.default_rng(k)
    for diff in (
        rng.normal(0.5, 1, k),
        rng.choice([-1.0, -0.5, 0.5, 1.0], k, p=[0.15, 0.1, 0.3, 0.45]),
    ):
        exact = sign_flip.exact_p(diff)  # meet in the middle, equal to enumeration above
        assert sign_flip.sign_flip_p(diff) == pytest.approx(exact, rel=0.05)


@pytest.mark.parametrize(
    ("n", "b"), [(30, 22), (100, 70), (1000, 560), (2000, 1100), (500, 400), (60, 60)]
)
def test_saddlepoint_on_a_lattice_against_the_binomial(n, b):
    # ±1 differences: the sign-flip sum is 2·Bin(n, ½) − n, so p is scipy's exact binomial test
    diff = np.array([1.0] * b + [-1.0] * (n - b))
    assert sign_flip.sign_flip_p(diff) == pytest.approx(stats.binomtest(b, n).pvalue, rel=0.01)


@pytest.mark.parametrize(
    "diff",
    [
        np.r_[
            [1e4, -1e4, 1e4, 1e4, -1e4, 1e4, 1e4, 1e4, -1e4, 1e4],
            [1.0, -2, 3, 1, 2, -3, 1, 2, 3, -1, 2, 1, -2, 3, 1],
        ],
        np.r_[
            [100.0, 100, -100], np.tile([1.0, 1, -1, 1, 1, -1, 1, 1], 3)
        ],  # a 3-doc task in a group
    ],
)
def test_saddlepoint_where_a_few_docs_dominate_against_exact_enumeration(diff):
    # the few large |d| make S a mixture of separate clusters: they are enumerated, the rest approximated
    assert sign_flip.sign_flip_p(diff) == pytest.approx(sign_flip.exact_p(diff), rel=0.05)


def test_group_of_zero_one_members_against_exact_enumeration():
    # two tasks of 10 and 15 docs: differences ±1/10 and ±1/15 (a lattice of 1/30), 25 differ
    diff = np.array([0.1] * 7 + [-0.1] * 1 + [1 / 15] * 14 + [-1 / 15] * 3)
    assert sign_flip.sign_flip_p(diff) == pytest.approx(sign_flip.exact_p(diff), rel=0.05)


# ---- groups of 0/1 tasks of coprime sizes: the sum on two lattices, computed exactly ------------


def exact_two_task_p(n1: int, n2: int, b1: int, c1: int, b2: int, c2: int) -> float:
    """The sign-flip p of a two-task 0/1 group from the two binomials directly (scipy): the
    weighted sum S = w1(2X1 − k1) + w2(2X2 − k2), X_t ~ Bin(k_t, ½), every (X1, X2) counted."""
    total = n1 + n2
    w1, w2 = total / (2 * n1), total / (2 * n2)
    k1, k2 = b1 + c1, b2 + c2
    observed = abs(w1 * (b1 - c1) + w2 * (b2 - c2))
    x1, x2 = np.arange(k1 + 1), np.arange(k2 + 1)
    sums = np.abs(w1 * (2 * x1[:, None] - k1) + w2 * (2 * x2[None, :] - k2))
    mass = stats.binom.pmf(x1, k1, 0.5)[:, None] * stats.binom.pmf(x2, k2, 0.5)[None, :]
    return float(mass[sums >= observed - 1e-9 * (w1 * k1 + w2 * k2)].sum())


def two_task_group(n1: int, n2: int, b1: int, c1: int, b2: int, c2: int) -> np.ndarray:
    """The weighted per-doc differences of `paired.group_pairs` for these discordant counts."""
    row_a = np.r_[[0.0] * b1 + [1.0] * c1 + [0.0] * (n1 - b1 - c1), [0.0] * b2 + [1.0] * c2 + [0.0] * (n2 - b2 - c2)]
    row_b = np.r_[[1.0] * b1 + [0.0] * c1 + [0.0] * (n1 - b1 - c1), [1.0] * b2 + [0.0] * c2 + [0.0] * (n2 - b2 - c2)]
    return (row_b - row_a) * paired.group_weights([n1, n2])


@pytest.mark.parametrize(("n1", "n2"), [(3, 20), (7, 19), (17, 23), (12, 40)])
def test_zero_one_groups_of_coprime_sizes_equal_the_exact_convolution(n1, n2):
    # the cases (the last round's saddlepoint: 4.6e-4 for an exact 1.4e-4 at 3 + 20,
    # decisions at 0.05 unlike exact); every discordance with more than 20 docs differing, a
    # stride through the larger task's
    cases = worst = 0
    for b1, c1 in itertools.product(range(n1 + 1), repeat=2):
        if b1 + c1 > n1:
            continue
        for b2 in range(0, n2 + 1, 2):
            for c2 in range(0, n2 + 1 - b2, 5):
                if b1 + c1 + b2 + c2 <= 20:
                    continue
                exact = exact_two_task_p(n1, n2, b1, c1, b2, c2)
                got = sign_flip.sign_flip_p(two_task_group(n1, n2, b1, c1, b2, c2))
                worst = max(worst, abs(got - exact) / exact)
                assert (got < 0.05) == (exact < 0.05), (b1, c1, b2, c2, got, exact)
                cases += 1
    assert cases > 40 and worst < 1e-9


def test_a_group_through_group_pairs_is_exact_too():
    rows_a = [np.r_[np.zeros(3)], np.r_[np.zeros(20)]]
    rows_b = [np.r_[np.ones(3)], np.r_[np.ones(14), np.zeros(6)]]
    result = paired.group_pairs([np.stack([a, b]) for a, b in zip(rows_a, rows_b, strict=True)], n_boot=20)
    assert result.p[0] == pytest.approx(exact_two_task_p(3, 20, 3, 0, 14, 0), rel=1e-12)


def test_few_distinct_differences_of_any_size_are_exact():
    # three levels of |d| (a graded metric) over 300 docs: the convolution of three binomials
    rng = np.random.default_rng(7)
    diff = rng.choice([-0.75, -0.25, 0.25, 0.5, 0.75], 300, p=[0.1, 0.2, 0.3, 0.2, 0.2])
    levels, counts = np.unique(np.abs(diff), return_counts=True)
    observed = abs(diff.sum())
    grids = np.meshgrid(*(np.arange(c + 1) for c in counts), indexing="ij")
    sums = sum(v * (2 * g - c) for v, g, c in zip(levels, grids, counts, strict=True))
    mass = np.prod(np.meshgrid(*(stats.binom.pmf(np.arange(c + 1), c, 0.5) for c in counts), indexing="ij"), axis=0)
    exact = mass[np.abs(sums) >= observed - 1e-9 * np.abs(diff).sum()].sum()
    assert sign_flip.sign_flip_p(diff) == pytest.approx(exact, rel=1e-9)

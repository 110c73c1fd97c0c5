"""Calibration by simulation of every test and interval the report prints: type-I error and
family-wise error under nulls, coverage of the intervals, power against a known effect. Seeded
data sets drawn at once (tests/helpers/null_data.py); the ≥ 1,000-data-set version of the Δ_CV table is
scripts/cv_calibration.py (contributing/statistics.md, "Calibration")."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tests.helpers.null_data import (
    GRID,
    alpha_gain,
    alpha_null,
    clustered_alpha_null,
    clustered_differences,
    delta_cv_draws,
    exchangeable_rows,
    expected_delta_cv,
    noisier_alpha_null,
    scaling_gain,
)
from tuco_eval.records.cv_json import CVConfig, CVResult, TaskRow
from tuco_eval.stats import cv, paired, power, sign_flip, significance
from tuco_eval.stats.group_cv import group_inference


def mc_bound(rate: float, n: int, z: float = 3.0) -> float:
    """``rate`` plus z Monte Carlo standard errors of a share over ``n`` data sets."""
    return rate + z * np.sqrt(rate * (1 - rate) / n)


# ---- paired tests between rows: exchangeable rows, family-wise error per family ----------------

# rows, tasks, docs per task, 0/1, correlation between rows, as a group, data sets
EXCHANGEABLE = {
    "0/1, 1 task, 10 rows": (10, 1, 200, True, 0.5, False, 200),
    "0/1, 1 task, 40 rows, correlated": (40, 1, 100, True, 0.8, False, 100),
    "continuous, 1 task, 2 rows": (2, 1, 25, False, 0.0, False, 400),
    "continuous group, 3 tasks, 20 rows": (20, 3, 30, False, 0.5, True, 150),
    "0/1 group, 60 tasks, 4 rows": (4, 60, 10, True, 0.5, True, 150),
}


@pytest.mark.parametrize("case", list(EXCHANGEABLE))
def test_family_wise_error_of_each_family_under_exchangeable_rows(case):
    rows, tasks, docs, binary, shared, group, n_sets = EXCHANGEABLE[case]
    data = exchangeable_rows(n_sets, rows, tasks, docs, binary, shared, seed=rows + tasks)
    is_base = [True] + [False] * (rows - 1)
    families = {f: paired.family_pairs(f, is_base) for f in paired.FAMILIES}
    any_rejected = {f: [] for f in families}
    rejected = []
    for members in data:
        for family, pairs in families.items():
            if group:
                result = paired.group_pairs(members, n_boot=20, pairs=pairs)
            else:
                result = paired.task_pairs(members[0], n_boot=20, pairs=pairs)
            any_rejected[family].append(bool((result.p_holm < 0.05).any()))
            if family == "all":
                rejected += (result.p < 0.05).tolist()
    for family, found in any_rejected.items():
        assert np.mean(found) <= mc_bound(0.05, n_sets), (family, np.mean(found))
    assert np.mean(rejected) <= mc_bound(0.05, n_sets)  # each pair's own test


def test_thirty_rows_all_different_every_pair_significant_in_every_family():
    # the measurement: two tasks x 50 docs, row r scores r units above row 0, noise 0.1;
    # today's code: 0 of 435 (every p = 1/2001, Holm's smallest 435/2001)
    rng = np.random.default_rng(0)
    members = [np.arange(30)[:, None] + rng.normal(0, 0.1, (30, 50)) for _ in range(2)]
    is_base = [True] + [False] * 29
    for family in paired.FAMILIES:
        result = paired.group_pairs(members, n_boot=20, pairs=paired.family_pairs(family, is_base))
        assert (result.p_holm < 0.05).all(), family


def test_power_of_the_group_test_against_a_known_effect():
    # 0/1 group of 10 tasks x 40 docs, rows independent, the second row 10 points more likely
    # right; power against the normal approximation Φ(δ/se − z) + Φ(−δ/se − z)
    rng = np.random.default_rng(5)
    level = rng.uniform(0.3, 0.6, size=(10, 1, 1))
    chance = level + np.array([0.0, 0.1])[None, :, None]
    found = []
    for _ in range(200):
        members = (rng.random((10, 2, 40)) < chance).astype(float)
        found.append(paired.group_pairs(list(members), n_boot=20).p[0] < 0.05)
    variance = (chance * (1 - chance)).sum(axis=1).ravel() / 40  # per task's mean difference
    se = np.sqrt(variance.sum()) / 10
    theory = stats.norm.cdf(0.1 / se - 1.96) + stats.norm.cdf(-0.1 / se - 1.96)
    assert np.mean(found) == pytest.approx(theory, abs=3 * np.sqrt(theory * (1 - theory) / 200) + 0.03)


@pytest.mark.parametrize(("binary", "tasks"), [(True, 1), (False, 1), (True, 12)])
def test_bootstrap_intervals_cover_the_true_difference(binary, tasks):
    # two exchangeable rows: the true difference is 0; percentile intervals of 400 draws
    n_sets = 150
    data = exchangeable_rows(n_sets, 2, tasks, 60, binary, 0.5, seed=11 + tasks)
    covered = []
    for members in data:
        low, high = paired.pairs_bootstrap_ci(members, np.array([0]), np.array([1]), n_boot=400)
        covered.append(low[0] <= 0 <= high[0])
    assert np.mean(covered) >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / n_sets)


# ---- Δ_CV under nulls where α has no effect -----------------------------------------------------


@pytest.mark.parametrize("kind", ["independent", "correlated", "graded"])
def test_delta_cv_p_and_interval_under_nulls(kind):
    # 300 data sets of 200 draws each (scripts/cv_calibration.py: 1,000 of 2,000). Today's code
    # (doc-level sign flip and bootstrap, α fixed): P(p < 0.05) 0.093 / 0.106 / 0.139, coverage
    # 0.889 / 0.870 / 0.847 over 1,000 data sets
    n_sets = 300
    data = alpha_null(kind, n_sets, seed=1, n_docs=200 if kind != "graded" else 300)
    results = [cv.cross_validate_scores(s, GRID, seed=i, n_boot=200, max_draws=200) for i, s in enumerate(data)]
    rejected = np.mean([r.p_value < 0.05 for r in results])
    covered = np.mean([r.ci95[0] <= 0 <= r.ci95[1] for r in results])
    assert rejected <= mc_bound(0.05, n_sets)
    assert covered >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / n_sets)


def test_delta_cv_power_against_a_three_point_gain():
    # N = 1,000, α = 1.1 three points more likely right on every doc (30 % of docs vary with α)
    data = alpha_gain(60, seed=9)
    found = [cv.cross_validate_scores(s, GRID, seed=i, n_boot=200, max_draws=200).significant
             for i, s in enumerate(data)]
    assert np.mean(found) >= 0.3  # well above the 5 % a test without power would reach


# ---- Δ_CV under real gains: the interval covers E[Δ_CV] and is as wide as Δ_CV spreads ------------


def test_delta_cv_interval_is_as_wide_as_the_estimate_spreads_under_a_strong_gain():
    # +10 points at α = 1.1, N = 1,000: Δ_CV's true spread by simulation. The interval of the last
    # round (the α-permutation null shifted to Δ_CV) was as wide as Δ_CV spreads under "α does
    # nothing": 1.33 times the true 95 % width on these data sets, coverage 0.998 over 1,000
    truth = delta_cv_draws(1000, 0.10, seed=300, n_sets=4000)
    data = scaling_gain(40, 1000, 0.10, seed=301)
    results = [cv.cross_validate_scores(s, GRID, seed=i, n_boot=500, max_draws=500) for i, s in enumerate(data)]
    width = np.mean([r.ci95[1] - r.ci95[0] for r in results]) / (2 * 1.96 * truth.std())
    assert 0.95 <= width <= 1.25, width  # measured 1.15: the upper end is the best α's bound
    covered = np.mean([r.ci95[0] <= truth.mean() <= r.ci95[1] for r in results])
    assert covered >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / 40)


def test_delta_cv_interval_covers_the_expected_gain_on_a_small_task():
    # +5 points on 40 docs: E[Δ_CV] +1.7, far below the +5 of the best α (scripts/cv_calibration.py:
    # coverage 0.97 over 1,000 data sets)
    expected = expected_delta_cv(40, 0.05, seed=310, n_sets=10000)
    assert 0.01 < expected < 0.025
    data = scaling_gain(200, 40, 0.05, seed=311)
    covered = [lo <= expected <= hi for lo, hi in
               (cv.cross_validate_scores(s, GRID, seed=i, n_boot=300).ci95 for i, s in enumerate(data))]
    assert np.mean(covered) >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / 200)


def test_group_interval_from_documents_covers_the_groups_expected_gain():
    # 5 tasks × 40 docs at +5 points (the case): the group's interval from its documents
    expected = np.mean([expected_delta_cv(40, 0.05, seed=320 + t, n_sets=4000) for t in range(5)])
    covered = []
    for i in range(80):
        members = [cv.cross_validate_task(scaling_gain(1, 40, 0.05, seed=10_000 * i + t)[0], GRID, seed=i,
                                          n_boot=300, stream=t)[1] for t in range(5)]
        low, high = group_inference(members, n_boot=300).ci95
        covered.append(low <= expected <= high)
    assert np.mean(covered) >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / 80)


# ---- the page's stars across tasks: a global null over 57 tasks ----------------------------------


def test_stars_across_57_tasks_under_a_global_null_are_corrected():
    # 57 tasks where α does nothing, 30 reports: with each task starred at p < 0.05 a good share of
    # reports star some task; after the report's correction at most 5 % (scripts/cv_calibration.py
    # --part global, 500 reports of MMLU's sizes: 0.376 uncorrected, none after BH or Holm)
    n_reports, results = 30, []
    for r in range(n_reports):
        tasks = {}
        for t in range(57):
            scores = alpha_null("30%", 1, seed=1000 * r + t, n_docs=40)[0]
            tasks[f"t{t}"] = TaskRow(**dict(cv.cross_validate_scores(scores, GRID, seed=t, n_boot=500, stream=t)))
        config = CVConfig(format=4, folds=5, objective="max", seed=0, metric=None, metrics=["acc"], n_boot=500,
                          filter=None, cluster_key=None, significance_level=0.05, label=f"report {r}",
                          model_args=None, store_fingerprint="")
        results.append(CVResult(config=config, tasks=tasks, groups={}))
    uncorrected = np.mean([any(t.significant for t in r.tasks.values()) for r in results])
    starred = [any(t.significant for t in significance.corrected_cv([r])[0].tasks.values())
               for r in results]  # each report corrected over its own 57 tasks
    assert uncorrected >= 0.2  # what a page without the correction shows
    assert np.mean(starred) <= mc_bound(0.05, n_reports)


# ---- power: the detectable effect printed against simulated power ------------------------------


@pytest.mark.parametrize("kind", ["mcnemar", "sign-flip"])
def test_detectable_difference_is_found_with_80_percent_power(kind):
    # 300 docs, two rows; the true difference set to the detectable one the test reports for the
    # discordance (spread) of such data: found in about 80 % of 300 data sets
    rng = np.random.default_rng(40)
    n, sets = 300, 300
    if kind == "mcnemar":
        discordant = 0.3 * n  # about 30 % of docs differ; b − c carries the difference
        delta = power.detectable(power.mcnemar_spread(discordant, n), 0.05)
        p_fix = (discordant / n + delta) / 2  # P(only b right), P(only a right) = p_fix − delta
        draws = rng.multinomial(n, [p_fix, p_fix - delta, 1 - 2 * p_fix + delta], size=sets)
        found = paired.mcnemar_p(draws[:, 0], draws[:, 1]) < 0.05
    else:
        sd = 1.0
        delta = power.detectable(sd / np.sqrt(n), 0.05)
        found = np.array([sign_flip.sign_flip_p(rng.normal(delta, sd, n)) < 0.05 for _ in range(sets)])
    assert abs(found.mean() - 0.8) <= 3 * np.sqrt(0.8 * 0.2 / sets) + 0.03, found.mean()


# ---- nulls the tests do not assume: what they then reject ---------------------------------------


def test_alpha_permutation_rejects_a_noisier_alpha_with_equal_means():
    # equal means at every α but α = 1.25 twice as noisy: the test of "α has no effect on any doc"
    # (exchangeable α's) rejects more than 5 % (contributing/statistics.md: 0.061 over 1,000 data sets)
    data = noisier_alpha_null(150, 300, seed=50)
    rejected = np.mean([cv.cross_validate_scores(s, GRID, seed=i, n_boot=300, max_draws=300).p_value < 0.05
                        for i, s in enumerate(data)])
    assert 0.05 <= rejected <= 0.2


def test_sign_flip_rejects_skewed_differences_of_mean_zero_more_than_its_level():
    # its null is symmetry of each doc's difference, not a zero mean: lognormal differences
    # centred at their mean (σ = 1.5, 20 docs) are rejected 0.255 of the time (contributing/statistics.md, 1,000 sets)
    rng = np.random.default_rng(51)
    x = rng.lognormal(0, 1.5, size=(400, 20)) - np.exp(1.5**2 / 2)
    rejected = np.mean([sign_flip.sign_flip_p(r) < 0.05 for r in x])
    assert 0.15 <= rejected <= 0.33


# ---- clustered docs: the tests over clusters keep their level where doc-level ones do not -------


def test_pair_test_over_clusters_keeps_its_level_on_clustered_docs():
    diffs, clusters = clustered_differences(300, 30, 4, seed=60)
    rows = [np.stack([np.zeros_like(d), d]) for d in diffs]
    doc_level = np.mean([paired.task_pairs(r, n_boot=20).p[0] < 0.05 for r in rows])
    over_clusters = np.mean([paired.task_pairs(r, n_boot=20, clusters=clusters).p[0] < 0.05 for r in rows])
    assert doc_level > 0.15  # the docs of a cluster counted as independent: far above 5 %
    assert over_clusters <= mc_bound(0.05, 300)


def test_alpha_permutation_over_clusters_keeps_its_level_on_clustered_docs():
    data, clusters = clustered_alpha_null(80, 30, 4, seed=61)
    def p(scores, seed, clusters=None):
        return cv.cross_validate_scores(scores, GRID, seed=seed, n_boot=200, clusters=clusters, max_draws=200).p_value

    assert np.mean([p(s, i, clusters) < 0.05 for i, s in enumerate(data)]) <= mc_bound(0.05, 80)
    doc_level = np.mean([p(s, i) < 0.05 for i, s in enumerate(data[:30])])
    assert doc_level > 0.15

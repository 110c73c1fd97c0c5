"""Calibration by simulation of every test and interval the report prints: type-I error and
family-wise error under nulls, coverage of the intervals, power against a known effect. Seeded
data sets drawn at once (tests/null_data.py); the ≥ 1,000-data-set version of the Δ_CV table is
scripts/cv_calibration.py (docs/cv.md, "Calibration")."""

from __future__ import annotations

import numpy as np
import pytest
from null_data import GRID, alpha_gain, alpha_null, exchangeable_rows
from scipy import stats

from tuco_eval.analysis import cv, paired


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
    results = [cv.cross_validate_scores(s, GRID, seed=i, n_boot=200) for i, s in enumerate(data)]
    rejected = np.mean([r.p_value < 0.05 for r in results])
    covered = np.mean([r.ci95[0] <= 0 <= r.ci95[1] for r in results])
    assert rejected <= mc_bound(0.05, n_sets)
    assert covered >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / n_sets)


def test_delta_cv_power_against_a_three_point_gain():
    # N = 1,000, α = 1.1 three points more likely right on every doc (30 % of docs vary with α)
    data = alpha_gain(60, seed=9)
    found = [cv.cross_validate_scores(s, GRID, seed=i, n_boot=200).significant for i, s in enumerate(data)]
    assert np.mean(found) >= 0.3  # scripts/cv_calibration.py: 0.5x over 1,000 data sets

"""The report's correction (stats/multiplicity.py, stats/significance.py) against statsmodels
and hand computations: adjusted p-values, the raw level each test needs, one family per kind."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from tuco_eval.records.board_json import PairTest
from tuco_eval.records.cv_json import CVConfig, CVResult, GroupRow, GroupTest, TaskRow
from tuco_eval.stats import multiplicity, significance
from tuco_eval.stats.power import detectable


@pytest.mark.parametrize("method", ["bh", "holm"])
def test_adjusted_p_values_match_statsmodels(method):
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.uniform(0, 0.01, 5), rng.uniform(0, 1, 40), [0.04, 0.04]])
    expected = multipletests(p, method={"bh": "fdr_bh", "holm": "holm"}[method])[1]
    np.testing.assert_allclose(multiplicity.adjust(p, method), expected, rtol=1e-12)


def test_benjamini_hochberg_by_hand():
    # m = 4: 0.01·4/1 = 0.04, 0.02·4/2 = 0.04, 0.03·4/3 = 0.04, 0.5·4/4 = 0.5; step-up minimum
    np.testing.assert_allclose(multiplicity.benjamini_hochberg([0.03, 0.5, 0.01, 0.02]), [0.04, 0.5, 0.04, 0.04])


def test_the_raw_level_a_test_needs_given_the_others():
    adjusted = multiplicity.benjamini_hochberg(np.array([0.001, 0.002, 0.3, 0.9]))  # two discoveries
    # a discovery needs p ≤ 0.05·(1 other + 1)/4; a non-discovery p ≤ 0.05·(2 + 1)/4
    np.testing.assert_allclose(multiplicity.raw_levels(adjusted, 0.05, "bh"), [0.025, 0.025, 0.0375, 0.0375])
    held = multiplicity.holm(np.array([0.001, 0.002, 0.3, 0.9]))
    np.testing.assert_allclose(multiplicity.raw_levels(held, 0.05, "holm"), [0.05 / 3, 0.05 / 3, 0.025, 0.025])
    with pytest.raises(ValueError, match="unknown correction"):
        multiplicity.adjust(np.array([0.1]), "bonferroni")


def _result(objective, tasks, groups=None):
    config = CVConfig(format=4, folds=5, objective=objective, seed=0, metric=None, metrics=["acc"],
                      n_boot=2000, filter=None, cluster_key=None, significance_level=0.05, label="run",
                      model_args=None, store_fingerprint="")
    return CVResult(config=config, tasks=tasks, groups=groups or {})


def _task(delta_cv, p_value, null_sd=0.01, se=0.012):
    """A task row with what the correction reads: Δ_CV, its p, null sd and se (the rest placeholders)."""
    return TaskRow(n=100, acc_alpha1=0.5, acc_cv=0.5 + delta_cv, delta_cv=delta_cv, alphas_chosen=[1.0] * 5,
                   acc_by_alpha={}, ci95=[delta_cv, delta_cv], p_value=p_value, significant=False,
                   se=se, null_sd=null_sd)


def _group(delta_cv, p_value, tasks):
    """A group row with its own test (p; no null sd or se), over ``tasks``."""
    test = GroupTest(ci95=[delta_cv, delta_cv], p_value=p_value, significant=False, se=0.0, null_sd=0.0,
                     n_draws=2000)
    return GroupRow(n_tasks=len(tasks), acc_alpha1=0.5, acc_cv=0.5 + delta_cv, delta_cv=delta_cv,
                    share_significant=0.0, tasks=tasks, weighted_by_size=None, metric=None, inference=test)


def test_delta_cv_stars_follow_the_correction_across_every_runs_tasks():
    runs = [
        _result("max", {"a": _task(0.02, 0.001), "b": _task(0.02, 0.04)},
                {"g": _group(0.02, 0.01, ["a", "b"])}),
        _result("max", {"a": _task(0.02, 0.03), "c": _task(-0.02, 0.002)}),
    ]
    out = significance.corrected_cv(runs)
    expected = multiplicity.benjamini_hochberg(np.array([0.001, 0.04, 0.03, 0.002]))
    got = [out[0].tasks["a"], out[0].tasks["b"], out[1].tasks["a"], out[1].tasks["c"]]
    assert [t.correction.p_adjusted for t in got] == pytest.approx(expected.tolist())
    # a significant loss is not a gain: c's adjusted p is small but Δ_CV points the wrong way
    assert [t.significant for t in got] == [True, True, True, False]
    assert out[0].groups["g"].correction.p_adjusted == 0.01 and out[0].groups["g"].share_significant == 1.0
    levels = multiplicity.raw_levels(expected, 0.05, "bh")
    assert got[0].correction.mde == pytest.approx(detectable(0.01, levels[0], 0.012))
    assert out[0].config.correction == "bh" and runs[0].config.correction is None  # copies


def _pair(family, level, p):
    """A pair test with what the correction reads: its family, level, p and null spread."""
    return PairTest(a="x", b="y", task="t", level=level, metric="acc", n=100, diff=0.01, ci=[0.0, 0.02],
                    test="sign-flip", p=p, p_holm=p, significant=False, family=family, m=1,
                    null_spread=0.01)


def test_pairs_are_corrected_per_family_and_level_across_tasks():
    pairs = [
        _pair(f, lv, p)
        for f, lv, p in [("base", "task", 0.01), ("base", "task", 0.02), ("base", "group", 0.04),
                         ("adjacent", "task", 0.03), ("adjacent", "task", 0.9)]
    ]
    pairs = significance.correct_pairs(pairs, "holm")
    assert [p.p_adjusted for p in pairs] == pytest.approx([0.02, 0.02, 0.04, 0.06, 0.9])
    assert [p.significant for p in pairs] == [True, True, True, False, False]
    assert [p.m_report for p in pairs] == [2, 2, 1, 2, 2]
    assert all(p.null_spread is None and p.mde > 0 for p in pairs)

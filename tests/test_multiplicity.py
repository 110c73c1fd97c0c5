"""The report's correction (stats/multiplicity.py, stats/significance.py) against statsmodels
and hand computations: adjusted p-values, the raw level each test needs, one family per kind."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

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
    return {"config": {"objective": objective}, "tasks": tasks, "groups": groups or {}}


def test_delta_cv_stars_follow_the_correction_across_every_runs_tasks():
    row = {"delta_cv": 0.02, "null_sd": 0.01, "se": 0.012}
    runs = [
        _result("max", {"a": {**row, "p_value": 0.001}, "b": {**row, "p_value": 0.04}},
                {"g": {"delta_cv": 0.02, "p_value": 0.01, "tasks": ["a", "b"]}}),
        _result("max", {"a": {**row, "p_value": 0.03}, "c": {**row, "delta_cv": -0.02, "p_value": 0.002}}),
    ]
    out = significance.corrected_cv(runs)
    expected = multiplicity.benjamini_hochberg(np.array([0.001, 0.04, 0.03, 0.002]))
    got = [out[0]["tasks"]["a"], out[0]["tasks"]["b"], out[1]["tasks"]["a"], out[1]["tasks"]["c"]]
    assert [t["p_adjusted"] for t in got] == pytest.approx(expected.tolist())
    # a significant loss is not a gain: c's adjusted p is small but Δ_CV points the wrong way
    assert [t["significant"] for t in got] == [True, True, True, False]
    assert out[0]["groups"]["g"]["p_adjusted"] == 0.01 and out[0]["groups"]["g"]["share_significant"] == 1.0
    levels = multiplicity.raw_levels(expected, 0.05, "bh")
    assert got[0]["mde"] == pytest.approx(detectable(0.01, levels[0], 0.012))
    assert out[0]["config"]["correction"] == "bh" and "correction" not in runs[0]["config"]  # copies


def test_pairs_are_corrected_per_family_and_level_across_tasks():
    pairs = [
        {"family": f, "level": lv, "p": p, "null_spread": 0.01}
        for f, lv, p in [("base", "task", 0.01), ("base", "task", 0.02), ("base", "group", 0.04),
                         ("adjacent", "task", 0.03), ("adjacent", "task", 0.9)]
    ]
    significance.correct_pairs(pairs, "holm")
    assert [p["p_adjusted"] for p in pairs] == pytest.approx([0.02, 0.02, 0.04, 0.06, 0.9])
    assert [p["significant"] for p in pairs] == [True, True, True, False, False]
    assert [p["m_report"] for p in pairs] == [2, 2, 1, 2, 2]
    assert all("null_spread" not in p and p["mde"] > 0 for p in pairs)

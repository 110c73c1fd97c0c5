"""A group's Δ_CV interval (the normal approximation from its tasks' intervals) and a leaderboard
cell's interval and mark, against hand computations; the z quantile against a printed table."""

from __future__ import annotations

import math

import pytest

from tuco_eval.analysis.intervals import group_interval, shows_gain, z_value
from tuco_eval.analysis.leaderboard import Run, cell_interval


def test_z_is_the_normal_quantile_of_the_level():
    # printed tables of the standard normal: 1.96 (95 %), 2.576 (99 %), 1.645 (90 %)
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_value(0.99) == pytest.approx(2.575829, abs=1e-6)
    assert z_value(0.90) == pytest.approx(1.644854, abs=1e-6)


def test_group_interval_by_hand():
    # task intervals of half-widths 0.0196 and 0.0392 at 95 %: se = 0.0196/z and 0.0392/z, so
    # half = z·sqrt(se_a² + se_b²)/2 = sqrt(0.0196² + 0.0392²)/2 = 0.0219135 (z cancels)
    low, high = group_interval(0.03, [[0.0204, 0.0596], [-0.0192, 0.0592]])
    half = math.sqrt(0.0196**2 + 0.0392**2) / 2
    assert (low, high) == pytest.approx((0.03 - half, 0.03 + half), abs=1e-12)
    assert half == pytest.approx(0.0219135, abs=1e-7)
    # a 90 % group from 95 % tasks would be another interval: the level is the members' own
    assert group_interval(0.0, [[-1.0, 1.0]], level=0.95) == pytest.approx((-1.0, 1.0))
    assert group_interval(0.0, [[-1.0, 1.0], [-1.0, 1.0]]) == pytest.approx((-1 / math.sqrt(2), 1 / math.sqrt(2)))


def test_a_gain_is_an_interval_beyond_zero_on_the_objectives_side():
    assert shows_gain((0.01, 0.02), "max") and not shows_gain((-0.01, 0.02), "max")
    assert shows_gain((-0.02, -0.01), "min") and not shows_gain((0.01, 0.02), "min")


def interval_run(objective: str, sign: float) -> Run:
    """Tasks a (Δ 0.04, CI ±0.0196) and b (Δ 0.02, CI ±0.0392), groups "both" (Δ 0.03) and
    "only_b"; for "min" every Δ mirrored."""
    tasks = {"a": {"delta_cv": sign * 0.04, "ci95": [sign * 0.04 - 0.0196, sign * 0.04 + 0.0196]},
             "b": {"delta_cv": sign * 0.02, "ci95": [sign * 0.02 - 0.0392, sign * 0.02 + 0.0392]}}
    for row in tasks.values():
        row.update(significant=False, n=100, acc_alpha1=0.5, acc_cv=0.5 + row["delta_cv"], p_value=0.5,
                   alphas_chosen=[1.0], acc_by_alpha={"1": 0.5})
    groups = {"both": {"delta_cv": sign * 0.03, "tasks": ["a", "b"]},
              "only_b": {"delta_cv": sign * 0.02, "tasks": ["b"]}}
    for group in groups.values():
        group.update(share_significant=0.0, n_tasks=len(group["tasks"]), acc_alpha1=0.5,
                     acc_cv=0.5 + group["delta_cv"])
    config = {"objective": objective, "folds": 5, "seed": 0, "significance_level": 0.05, "metric": "acc"}
    return Run(label="hand", run_dir=None, cv={"config": config, "tasks": tasks, "groups": groups})


@pytest.mark.parametrize(("objective", "sign"), [("max", 1.0), ("min", -1.0)])
def test_leaderboard_cell_interval_and_mark_by_hand(objective, sign):
    run = interval_run(objective, sign)
    # "both": half = 0.0219135; Δ 0.03 -> [0.0081, 0.0519], above 0: a gain (for "min",
    # mirrored: [-0.0519, -0.0081], below 0: a gain)
    (low, high), significant = cell_interval(run, run.columns["both"])
    assert (round(low, 4), round(high, 4)) == tuple(sorted([sign * 0.0081, sign * 0.0519])) and significant
    # "only_b": half = 0.0392; Δ 0.02 -> [-0.0192, 0.0592]: 0 inside, no mark
    (low, high), significant = cell_interval(run, run.columns["only_b"])
    assert (round(low, 4), round(high, 4)) == tuple(sorted([sign * -0.0192, sign * 0.0592]))
    assert not significant
    # a task's own interval is its bootstrap CI, its mark its sign-flip test's
    assert cell_interval(run, {"ci95": [0.01, 0.02], "significant": True}) == ((0.01, 0.02), True)
    assert cell_interval(run, {"delta_cv": 0.1, "tasks": ["missing"]}) == (None, False)

"""A leaderboard cell's interval and mark, by hand: a task's and a group's own interval of
E[Δ_CV] (both from their documents, cv.json) and the significance after the report's correction."""

from __future__ import annotations

import pytest

from tests.helpers.report_runs import group_row, interval_run
from tuco_eval.records.cv_json import CVResult, TaskRow
from tuco_eval.records.report import Run


@pytest.mark.parametrize(("objective", "sign"), [("max", 1.0), ("min", -1.0)])
def test_leaderboard_cell_interval_and_mark_by_hand(objective, sign):
    run = interval_run(objective, sign)
    both = run.columns["both"]
    assert tuple(both.ci95) == tuple(sorted([sign * 0.0081, sign * 0.0519])) and both.significant
    only_b = run.columns["only_b"]
    assert tuple(only_b.ci95) == tuple(sorted([sign * -0.0192, sign * 0.0592])) and not only_b.significant
    # a run without groups: each task's cell is its own interval and mark
    task = TaskRow(n=100, acc_alpha1=0.5, acc_cv=0.6, delta_cv=0.1, alphas_chosen=[1.0], acc_by_alpha={"1": 0.5},
                   ci95=[0.01, 0.02], p_value=0.001, significant=True, metric="acc")
    ungrouped = Run("tasks", None, CVResult(run.cv.config, {"t": task}, {}))
    assert (tuple(ungrouped.columns["t"].ci95), ungrouped.columns["t"].significant) == ((0.01, 0.02), True)
    # a group without its own test (a member had no draws): no interval, no mark
    untested = Run("untested", None, CVResult(run.cv.config, {}, {"g": group_row(["missing"], 0.1, None)}))
    assert (untested.columns["g"].ci95, untested.columns["g"].significant) == (None, False)

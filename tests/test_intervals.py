"""A leaderboard cell's interval and mark, by hand: a task's and a group's own interval of
E[Δ_CV] (both from their documents, cv.json) and the significance after the report's correction."""

from __future__ import annotations

import pytest

from tests.helpers.report_runs import interval_run
from tuco_eval.analysis.leaderboard import cell_interval


@pytest.mark.parametrize(("objective", "sign"), [("max", 1.0), ("min", -1.0)])
def test_leaderboard_cell_interval_and_mark_by_hand(objective, sign):
    run = interval_run(objective, sign)
    (low, high), significant = cell_interval(run.columns["both"])
    assert (low, high) == tuple(sorted([sign * 0.0081, sign * 0.0519])) and significant
    (low, high), significant = cell_interval(run.columns["only_b"])
    assert (low, high) == tuple(sorted([sign * -0.0192, sign * 0.0592])) and not significant
    assert cell_interval({"ci95": [0.01, 0.02], "significant": True}) == ((0.01, 0.02), True)
    assert cell_interval({"delta_cv": 0.1, "tasks": ["missing"]}) == (None, False)

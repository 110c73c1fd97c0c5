"""A leaderboard cell's interval and mark, by hand: a task's and a group's own interval of
E[Δ_CV] (both from their documents, cv.json) and the significance after the report's correction."""

from __future__ import annotations

import pytest

from tuco_eval.analysis.leaderboard import Run, cell_interval


def interval_run(objective: str, sign: float) -> Run:
    """Tasks a (Δ 0.04, CI ±0.0196) and b (Δ 0.02, CI ±0.0392), groups "both" (Δ 0.03, its own
    interval [0.0081, 0.0519], significant) and "only_b" (Δ 0.02, [-0.0192, 0.0592]); for "min"
    every Δ and interval mirrored."""
    def ci(low: float, high: float) -> list[float]:
        return sorted([sign * low, sign * high])

    tasks = {"a": {"delta_cv": sign * 0.04, "ci95": ci(0.0204, 0.0596)},
             "b": {"delta_cv": sign * 0.02, "ci95": ci(-0.0192, 0.0592)}}
    for row in tasks.values():
        row.update(significant=False, n=100, acc_alpha1=0.5, acc_cv=0.5 + row["delta_cv"], p_value=0.5,
                   alphas_chosen=[1.0], acc_by_alpha={"1": 0.5})
    groups = {"both": {"delta_cv": sign * 0.03, "tasks": ["a", "b"], "ci95": ci(0.0081, 0.0519),
                       "significant": True, "p_value": 0.001},
              "only_b": {"delta_cv": sign * 0.02, "tasks": ["b"], "ci95": ci(-0.0192, 0.0592),
                         "significant": False, "p_value": 0.4}}
    for group in groups.values():
        group.update(share_significant=0.0, n_tasks=len(group["tasks"]), acc_alpha1=0.5,
                     acc_cv=0.5 + group["delta_cv"])
    config = {"objective": objective, "folds": 5, "seed": 0, "significance_level": 0.05, "metric": "acc"}
    return Run(label="hand", run_dir=None, cv={"config": config, "tasks": tasks, "groups": groups})


@pytest.mark.parametrize(("objective", "sign"), [("max", 1.0), ("min", -1.0)])
def test_leaderboard_cell_interval_and_mark_by_hand(objective, sign):
    run = interval_run(objective, sign)
    (low, high), significant = cell_interval(run.columns["both"])
    assert (low, high) == tuple(sorted([sign * 0.0081, sign * 0.0519])) and significant
    (low, high), significant = cell_interval(run.columns["only_b"])
    assert (low, high) == tuple(sorted([sign * -0.0192, sign * 0.0592])) and not significant
    assert cell_interval({"ci95": [0.01, 0.02], "significant": True}) == ((0.01, 0.02), True)
    assert cell_interval({"delta_cv": 0.1, "tasks": ["missing"]}) == (None, False)

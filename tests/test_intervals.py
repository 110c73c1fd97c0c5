"""A leaderboard cell's interval and mark, by hand: a task's and a group's own interval of
E[Δ_CV] (both from their documents, cv.json) and the significance after the report's correction."""

from __future__ import annotations

import pytest

from tuco_eval.records.cv_json import CV_FORMAT, CVConfig, CVResult, GroupRow, GroupTest, TaskRow
from tuco_eval.records.report import Run


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
    config = CVConfig(format=CV_FORMAT, folds=5, objective=objective, seed=0, metric="acc", metrics=["acc"],
                      n_boot=1000, filter=None, cluster_key=None, significance_level=0.05, label="hand",
                      model_args=None, store_fingerprint="")
    cv = CVResult(
        config=config,
        tasks={name: TaskRow(**row, metric="acc") for name, row in tasks.items()},
        groups={name: group_row(g["tasks"], g["delta_cv"], GroupTest(g["ci95"], g["p_value"], g["significant"],
                                                                     se=0.01, null_sd=0.01, n_draws=1000))
                for name, g in groups.items()},
    )
    return Run(label="hand", run_dir=None, cv=cv)


def group_row(members: list[str], delta_cv: float, inference: GroupTest | None) -> GroupRow:
    return GroupRow(n_tasks=len(members), acc_alpha1=0.5, acc_cv=0.5 + delta_cv, delta_cv=delta_cv,
                    share_significant=0.0, tasks=members, weighted_by_size=None, metric="acc",
                    inference=inference)


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

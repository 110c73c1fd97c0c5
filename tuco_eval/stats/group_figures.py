"""Groups of tasks (run.json "groups", as lm-eval's group YAMLs): each group's figures from its
tasks' cross-validation results, the paper's unweighted mean over tasks and, where lm-eval
weights the group by size, that figure too; with the tasks' draws, the group's p-value and
interval from its documents (`group_cv`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from tuco_eval.records.cv_json import GroupRow, GroupTest, TaskRow, WeightedFigures
from tuco_eval.stats.cv import CVError, TaskDraws
from tuco_eval.stats.group_cv import group_inference


def leaf_tasks(
    group: str, groups: Mapping[str, Sequence[str]], seen: frozenset = frozenset()
) -> list[str]:
    """The tasks of ``group``, nested groups expanded (run.json 'groups')."""
    if group in seen:
        raise CVError(f"group {group!r} contains itself (run.json 'groups')")
    leaves: list[str] = []
    for member in groups[group]:
        nested = member in groups and member != group
        leaves += leaf_tasks(member, groups, seen | {group}) if nested else [member]
    return leaves


def aggregate_groups(
    task_results: Mapping[str, TaskRow],
    groups: Mapping[str, Sequence[str]],
    rows_of: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    by_size: Callable[[str, str | None, str | None], bool] = lambda group, filter, metric: False,
    draws: Mapping[str, TaskDraws] | None = None,
    objective: str = "max",
    n_boot: int = 2000,
) -> dict[str, GroupRow]:
    """Per group: the unweighted mean over member tasks (the paper's aggregation), the share of
    members with a significant gain and, where ``by_size(group, filter, metric)``, lm-eval's mean
    weighted by each task's doc count. Nested groups are expanded to their tasks.

    ``rows_of`` maps a task to its (row name, filter) pairs (default: the task is its own row).
    Members with several filters give the group a row per filter, ``<group>,<filter>``, as lm-eval.
    Only rows of one metric (their ``"metric"``) are averaged: members scored with different
    metrics give the group a row per metric, ``<group> [<metric>]``. With every member's
    ``draws`` (`cv.cross_validate_task`), the group's p-value and interval (`group_cv`).
    """
    out: dict[str, GroupRow] = {}
    for group in groups:
        members = sorted(set(leaf_tasks(group, groups)))
        rows = {
            t: [(r, f) for r, f in (rows_of or {}).get(t, [(t, None)]) if r in task_results]
            for t in members
        }
        missing = [t for t in members if not rows[t]]
        if missing or not members:
            raise CVError(
                f"group {group!r} has members without results ({', '.join(missing[:3]) or 'none listed'}); "
                "finish the sweep for them or drop them from run.json 'groups'"
            )
        keys = list(
            dict.fromkeys((f, task_results[r].metric) for t in members for r, f in rows[t])
        )
        several_filters = len({f for f, _ in keys}) > 1
        several_metrics = len({m for _, m in keys}) > 1
        for filter, metric in keys:
            names = [
                r
                for t in members
                for r, f in rows[t]
                if f == filter and task_results[r].metric == metric
            ]
            name = group + (f",{filter}" if several_filters else "")
            name += f" [{metric}]" if several_metrics else ""
            inference = None
            if draws is not None and all(n in draws for n in names):
                found = group_inference([draws[n] for n in names], objective, n_boot)
                inference = GroupTest(
                    ci95=found.ci95, p_value=found.p_value, significant=found.significant,
                    se=found.se, null_sd=found.null_sd, n_draws=found.n_draws,
                )
            out[name] = _group_figures(names, task_results, by_size(group, filter, metric), metric, inference)
    return out


def _group_figures(
    names: Sequence[str], task_results: Mapping[str, TaskRow], by_size: bool, metric: str | None,
    inference: GroupTest | None,
) -> GroupRow:
    rows = [task_results[t] for t in names]
    weighted = None
    if by_size:  # lm-eval's aggregate_subtask_metrics: sum(value * size) / sum(size)
        sizes = np.array([r.n for r in rows], dtype=np.float64)
        weighted = WeightedFigures(
            *(float(np.dot(sizes, [getattr(r, key) for r in rows]) / sizes.sum())
              for key in ("acc_alpha1", "acc_cv", "delta_cv")),
            n_docs=int(sizes.sum()),
        )
    return GroupRow(
        n_tasks=len(rows),
        acc_alpha1=float(np.mean([r.acc_alpha1 for r in rows])),
        acc_cv=float(np.mean([r.acc_cv for r in rows])),
        delta_cv=float(np.mean([r.delta_cv for r in rows])),
        share_significant=float(np.mean([r.significant for r in rows])),
        tasks=list(names),
        weighted_by_size=weighted,
        metric=metric,
        inference=inference,
    )

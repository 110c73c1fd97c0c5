"""An lm-eval output folder as a row of the report: its result rows (task, filter), what lm-eval
reported for each task and group (score, stderr, n), each doc's record for the paired tests, and
the settings that shape its prompts.

Result rows are named as a sweep's (tuco_eval.store.task_rows): a task with several filters has a
row `<task>,<filter>` per filter, each scored with the task's primary metric (the first of its
`metric_list`); groups take their members from the run's own `group_subtasks`, named as
`group_figures.aggregate_groups` names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from tuco_eval.store.clusters import scalar_fields
from tuco_eval.store.lm_eval_output import LmEvalRun, iter_samples
from tuco_eval.store.run_json import RunInfo
from tuco_eval.store.sample_records import digest_samples
from tuco_eval.store.task_rows import Row, task_rows


@dataclass(frozen=True)
class Reported:
    """What lm-eval wrote in the results JSON for one row: score, stderr (None for "N/A"), n."""

    score: float
    stderr: float | None
    n: int


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class LmEvalRows:
    """The rows of one lm-eval run, read once."""

    run: LmEvalRun

    @cached_property
    def _digests(self) -> dict[str, tuple[list[dict], list[str]]]:
        """Per task, its records and filters, from one streamed read of its samples file."""
        return {task: digest_samples(iter_samples(self.run, task)) for task in self.run.tasks()}

    @cached_property
    def records(self) -> dict[str, list[dict]]:
        """Per task, one store record per doc (tuco_eval.store.sample_records), as a sweep stores it."""
        return {task: records for task, (records, _) in self._digests.items()}

    @cached_property
    def filters(self) -> dict[str, list[str]]:
        return {task: filters for task, (_, filters) in self._digests.items()}

    def doc_fields(self, task: str) -> dict[int, dict]:
        """Each doc's short fields (a cluster can be named by one: store.clusters), read again
        from the file when asked rather than kept for every task."""
        return {int(s["doc_id"]): scalar_fields(s.get("doc")) for s in iter_samples(self.run, task)}

    def info(self) -> RunInfo:
        """What a RUN_DIR's run.json says of the same tasks (filters, task configs, groups)."""
        return RunInfo.of(
            tasks=self.run.tasks(),
            filters=self.filters,
            task_configs=dict(self.run.results.get("configs") or {}),
            groups=self.run.groups(),
        )

    @cached_property
    def rows(self) -> dict[str, Row]:
        info = self.info()
        return {row.name: row for task in self.run.tasks() for row in task_rows(info, task)}

    def reported(self, row: Row) -> Reported | None:
        """lm-eval's figure for a task row; None when the results JSON has none."""
        entry = (self.run.results.get("results") or {}).get(row.task) or {}
        score = _number(entry.get(f"{row.metric},{row.filter}"))
        if score is None:
            return None
        samples = (self.run.results.get("n-samples") or {}).get(row.task) or {}
        n = samples.get("effective") if isinstance(samples, Mapping) else None
        n = n if isinstance(n, int) else len(self.records[row.task])
        return Reported(score, _number(entry.get(f"{row.metric}_stderr,{row.filter}")), n)

    @cached_property
    def group_rows(self) -> dict[str, dict]:
        """Per group row: its member rows, metric and filter (as aggregate_groups names them)."""
        groups = self.run.groups()
        out: dict[str, dict] = {}
        for group in groups:
            members = _leaves(group, groups)
            rows = [r for r in self.rows.values() if r.task in members]
            keys = list(dict.fromkeys((r.filter, r.metric) for r in rows))
            for filter, metric in keys:
                name = group + (f",{filter}" if len({f for f, _ in keys}) > 1 else "")
                name += f" [{metric}]" if len({m for _, m in keys}) > 1 else ""
                out[name] = {
                    "group": group,
                    "tasks": sorted(r.name for r in rows if (r.filter, r.metric) == (filter, metric)),
                    "metric": metric,
                    "filter": filter,
                }
        return out

    def reported_group(self, group: Mapping) -> Reported | None:
        """lm-eval's aggregate of a group row; None when lm-eval aggregated none (a group without
        aggregate_metric_list)."""
        entry = (self.run.results.get("results") or {}).get(group["group"]) or {}
        key = f"{group['metric']},{group['filter']}"
        score = _number(entry.get(key))
        if score is None:
            return None
        count = (entry.get("sample_count") or {}).get(key)
        n = count if isinstance(count, int) else sum(len(self.records[self.rows[t].task]) for t in group["tasks"])
        return Reported(score, _number(entry.get(f"{group['metric']}_stderr,{group['filter']}")), n)


def _leaves(group: str, groups: Mapping[str, list[str]], seen: frozenset = frozenset()) -> set[str]:
    leaves: set[str] = set()
    for member in groups.get(group, []):
        if member in groups and member not in seen | {group}:
            leaves |= _leaves(member, groups, seen | {group})
        else:
            leaves.add(member)
    return leaves

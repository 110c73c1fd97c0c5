"""Result rows of a store: one per (task, filter), named as lm-eval names its results.

lm-eval scores every filter of a task (gsm8k: `strict-match`, `flexible-extract`) and names each
result `metric,filter`. The sweep stores a task with several filters as per-doc fields
`<metric>,<filter>` and lists the filters in run.json `filters`; `cv` and `report` then give each
filter its own row `<task>,<filter>`. A task with one filter (lm-eval's default is `none`) keeps
plain metric fields and its plain name. Each row is scored with its task's primary metric (the
first of its config's `metric_list`) unless one metric is forced. And which groups lm-eval
weights by size, from run.json `group_aggregation` (the groups' `aggregate_metric_list`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuco_eval.store.run_json import RunInfo
from tuco_eval.util.errors import TucoError

DEFAULT_FILTER = "none"  # lm-eval's filter name for a task without filter_list
FALLBACK_METRIC = "acc"  # a task whose config the store does not record (and `cv`'s old default)


@dataclass(frozen=True)
class Row:
    """One result row: ``name`` in cv.json and tables, read from field ``key`` of ``task``'s records."""

    name: str
    task: str
    filter: str
    key: str
    metric: str = FALLBACK_METRIC


def filter_names(task: Any) -> list[str]:
    """The filters lm-eval applies to a built Task, in its order (``none`` when it names none)."""
    names = [f.name for f in getattr(task, "_filters", None) or []]
    if names:
        return names
    return configured_filters(task.dump_config() if hasattr(task, "dump_config") else None)


def configured_filters(config: Mapping | None) -> list[str]:
    """Filter names of a task config's ``filter_list`` (``["none"]`` without one)."""
    entries = (config or {}).get("filter_list") or []
    names = [e.get("name") for e in entries if isinstance(e, Mapping) and e.get("name")]
    return names or [DEFAULT_FILTER]


def primary_metric(info: RunInfo, task: str) -> str:
    """The first metric of the task's ``metric_list`` in run.json ``task_configs`` (else ``acc``)."""
    entries = ((info.task_configs or {}).get(task) or {}).get("metric_list") or []
    first = entries[0] if isinstance(entries, list) and entries else None
    name = first.get("metric") if isinstance(first, Mapping) else None
    return name if isinstance(name, str) and name else FALLBACK_METRIC


def _stored_filters(
    task: str, stored: Sequence[str], units: Mapping[float, Sequence[str] | None] | None
) -> bool:
    """Whether the task's records hold per-filter fields; refuses α's that mix the two layouts."""
    layout = {a: any("," in m for m in metrics) for a, metrics in (units or {}).items() if metrics}
    old = sorted(a for a, per_filter in layout.items() if not per_filter)
    new = sorted(a for a, per_filter in layout.items() if per_filter)
    if old and new:
        olds = ", ".join(map(repr, old))
        raise TucoError(
            f"task {task} mixes records swept before tuco-eval kept every filter (alpha {olds}: "
            f"only {stored[0]!r}, under plain names) with per-filter ones (alpha "
            f"{', '.join(map(repr, new))}); sweep it into a new RUN_DIR, or delete its units of "
            f"alpha {olds} (samples/alpha=<α>/{task}.*) and sweep again so every alpha has every filter"
        )
    return not old


def _metrics_of(task: str, key: str, units: Mapping[float, Sequence[str] | None] | None) -> None:
    listed = [metrics for _, metrics in sorted((units or {}).items()) if metrics]
    if listed and key not in listed[0]:
        names = sorted({m.split(",")[0] for m in listed[0]})
        raise TucoError(
            f"task {task} has no per-doc metric {key.split(',')[0]!r} (its metrics: "
            f"{', '.join(names) or 'none'}); pick one with --metric, or cross-validate it in its own call"
        )


def task_rows(
    info: RunInfo,
    task: str,
    metric: str | None = None,
    units: Mapping[float, Sequence[str] | None] | None = None,
) -> list[Row]:
    """The rows of one task of a store described by ``info`` (its run.json).

    ``metric`` None: the task's primary metric. ``units`` maps each α to the numeric fields its
    manifest lists (when given, the layout and the metric are checked against them)."""
    metric = metric or primary_metric(info, task)
    stored = (info.filters or {}).get(task)
    if stored and (len(stored) == 1 or _stored_filters(task, stored, units)):
        several = len(stored) > 1
        rows = [
            Row(f"{task},{f}" if several else task, task, f,
                f"{metric},{f}" if several else metric, metric)
            for f in stored
        ]
    else:  # a store written before every filter was kept: its records hold the first filter's numbers
        known = stored or configured_filters((info.task_configs or {}).get(task))
        name = f"{task},{known[0]}" if len(known) > 1 else task
        rows = [Row(name, task, known[0], metric, metric)]
    _metrics_of(task, rows[0].key, units)
    return rows


def store_rows(
    info: RunInfo,
    tasks: Sequence[str],
    metric: str | None = None,
    filter: str | None = None,
    units: Mapping[str, Mapping[float, Sequence[str] | None]] | None = None,
) -> list[Row]:
    """Every task's rows; with ``filter``, a task with several filters keeps only that one's row.

    ``metric`` None: each task's primary metric; ``units``: per task, as for `task_rows`."""
    rows = {task: task_rows(info, task, metric, (units or {}).get(task)) for task in tasks}
    if filter is None:
        return [row for task_list in rows.values() for row in task_list]
    for task, task_list in rows.items():
        known = (info.filters or {}).get(task) or configured_filters((info.task_configs or {}).get(task))
        if filter in known and all(r.filter != filter for r in task_list):
            raise TucoError(
                f"the store of task {task} holds only its filter {task_list[0].filter!r} (swept "
                f"before tuco-eval kept every filter); sweep it again into a new RUN_DIR for {filter!r}"
            )
    if not any(r.filter == filter for task_list in rows.values() for r in task_list):
        known = sorted({r.filter for task_list in rows.values() for r in task_list})
        raise TucoError(
            f"no task in this RUN_DIR has the filter {filter!r}; its filters: {', '.join(known)}"
        )
    picked: list[Row] = []
    for task, task_list in rows.items():
        chosen = [r for r in task_list if r.filter == filter]
        if not chosen and task_list[0].name != task:  # named after its filters: it has several
            raise TucoError(
                f"task {task} has no filter {filter!r} in this RUN_DIR (it has "
                f"{', '.join(r.filter for r in task_list)}); pick one of those with --filter"
            )
        picked += chosen or task_list  # a task with a single filter is kept as it is
    return picked


def weighted_by_size(info: RunInfo, group: str, metric: str, filter: str | None) -> bool:
    """Whether lm-eval reports ``group``'s ``metric,filter`` as a size-weighted mean."""
    for entry in (info.group_aggregation or {}).get(group) or []:
        filters = entry.get("filter_list")
        filters = [filters] if isinstance(filters, str) else filters
        if entry.get("metric") != metric or (filters and filter not in filters):
            continue
        return bool(entry.get("weight_by_size", True))  # lm-eval's AggMetricConfig default
    return False


def group_aggregation(group: Any) -> list[dict]:
    """A built lm-eval Group's ``aggregate_metric_list`` as plain JSON (metric, filters, weighting)."""
    entries = [
        entry if isinstance(entry, Mapping) else vars(entry)  # AggMetricConfig, or a plain dict
        for entry in getattr(group, "aggregate_metric_list", None) or []
    ]
    return [
        {
            "metric": entry.get("metric"),
            "filter_list": entry.get("filter_list"),
            "weight_by_size": bool(entry.get("weight_by_size", True)),
        }
        for entry in entries
    ]

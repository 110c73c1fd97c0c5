"""cv.json (docs/formats.md, "cv.json"): a RUN_DIR's cross-validated α per (task, filter) row
and per group, as `CVResult` with `from_json` / `to_json`. ``to_json`` writes the keys in the
order the format has always had, so a file read and written again is byte-identical.

Format 4 is read; older layouts raise `OldFormat` (the store is there: the caller recomputes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

CV_FORMAT = 4  # 2 = rows per (task, filter), group figures both ways; 3 = a metric per row;
# 4 = E[Δ_CV]'s bootstrap interval, se and null sd per row, groups' p and interval from documents


class OldFormat(ValueError):
    """A cv.json of another format than `CV_FORMAT`, or not a cv.json at all."""


@dataclass(frozen=True)
class Correction:
    """What the report's correction across rows gave one row (`tuco_eval.stats.significance`)."""

    p_adjusted: float
    raw_level: float  # the raw p the correction asks of this row
    mde: float | None  # smallest E[Δ_CV] detected with 80 % power at that level


@dataclass(frozen=True)
class TaskRow:
    """One (task, filter) row of cv.json's "tasks"."""

    n: int
    acc_alpha1: float  # mean score at α = 1
    acc_cv: float  # mean out-of-fold score at the α chosen on the other folds
    delta_cv: float  # acc_cv − acc_alpha1
    alphas_chosen: list[float]  # per fold
    acc_by_alpha: dict[str, float]  # mean score at each α (format_alpha keys)
    ci95: list[float]  # interval of E[Δ_CV]
    p_value: float  # α-permutation test of "α has no effect"
    significant: bool  # before the report's correction: p < level, a gain the objective's way
    se: float = 0.0
    null_sd: float = 0.0
    best_gain_bound: float = 0.0
    n_draws: int = 0
    n_clusters: int | None = None
    cluster_key: str | None = None
    filter: str | None = None
    metric: str | None = None
    task: str | None = None  # whose records hold the row's per-doc scores (None: the row's name)
    key: str | None = None  # the per-doc field scored (None: the metric)
    correction: Correction | None = None  # set by the report's correction, never written

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "correction"}
        return out | _correction_json(self.correction)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> TaskRow:
        return cls(**_without_correction(obj), correction=_correction_from(obj))


@dataclass(frozen=True)
class WeightedFigures:
    """lm-eval's figures of a group weighted by its tasks' sizes (groups that weight by size)."""

    acc_alpha1: float
    acc_cv: float
    delta_cv: float
    n_docs: int


@dataclass(frozen=True)
class GroupTest:
    """A group's own test and interval, from its documents (`tuco_eval.stats.group_cv`)."""

    ci95: list[float]
    p_value: float
    significant: bool
    se: float
    null_sd: float
    n_draws: int


@dataclass(frozen=True)
class GroupRow:
    """One row of cv.json's "groups": the unweighted mean over member rows (the paper's)."""

    n_tasks: int
    acc_alpha1: float
    acc_cv: float
    delta_cv: float
    share_significant: float  # share of member rows significant (after the correction, when set)
    tasks: list[str]  # member rows
    weighted_by_size: WeightedFigures | None
    metric: str | None
    inference: GroupTest | None = None  # None: some member had no draws
    correction: Correction | None = None

    @property
    def ci95(self) -> list[float] | None:
        return self.inference.ci95 if self.inference else None

    @property
    def p_value(self) -> float | None:
        return self.inference.p_value if self.inference else None

    @property
    def significant(self) -> bool | None:
        return self.inference.significant if self.inference else None

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)[:7]}
        out["weighted_by_size"] = asdict(self.weighted_by_size) if self.weighted_by_size else None
        out["metric"] = self.metric
        if self.inference is not None:
            out |= asdict(self.inference)
        return out | _correction_json(self.correction)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> GroupRow:
        plain = _without_correction(obj)
        names = [f.name for f in fields(GroupTest)]
        weighted = plain.get("weighted_by_size")
        return cls(
            **{f.name: plain[f.name] for f in fields(cls)[:6]},
            weighted_by_size=WeightedFigures(**weighted) if weighted else None,
            metric=plain.get("metric"),
            inference=GroupTest(**{k: plain[k] for k in names}) if "p_value" in plain else None,
            correction=_correction_from(obj),
        )


@dataclass(frozen=True)
class Cell:
    """A leaderboard cell of a run: a group's figures, or a task's for a run without groups."""

    delta_cv: float
    share_significant: float
    n_tasks: int
    ci95: list[float] | None
    significant: bool
    p_value: float | None
    p_adjusted: float | None
    mde: float | None


@dataclass(frozen=True)
class CVConfig:
    """cv.json's "config": the settings it was computed with and the store it read."""

    format: int
    folds: int
    objective: str
    seed: int
    metric: str | None  # None: each row its task's primary metric
    metrics: list[str]
    n_boot: int
    filter: str | None
    cluster_key: str | None  # None: each task's own metadata.cluster_key, if any
    significance_level: float
    label: str
    model_args: str | None
    store_fingerprint: str
    correction: str | None = None  # the report's correction across rows, never written

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if out["correction"] is None:
            del out["correction"]
        return out


@dataclass(frozen=True)
class CVResult:
    """A whole cv.json."""

    config: CVConfig
    tasks: dict[str, TaskRow]
    groups: dict[str, GroupRow]

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config.to_json(),
            "tasks": {name: row.to_json() for name, row in self.tasks.items()},
            "groups": {name: row.to_json() for name, row in self.groups.items()},
        }

    @staticmethod
    def stored_settings(obj: Any, names: tuple[str, ...]) -> dict[str, Any] | None:
        """``names`` of the config a parsed cv.json of any format was computed with (missing
        ones None), to compute it again alike; None when it has no config."""
        config = obj.get("config") if isinstance(obj, Mapping) else None
        return {name: config.get(name) for name in names} if isinstance(config, Mapping) else None

    @classmethod
    def from_json(cls, obj: Any) -> CVResult:
        """The record of a parsed cv.json; `OldFormat` for any other format or shape."""
        try:
            version = obj["config"].get("format")
            if version != CV_FORMAT:
                raise OldFormat(f"format {version}, this tuco-eval reads {CV_FORMAT}")
            return cls(
                config=CVConfig(**obj["config"]),
                tasks={name: TaskRow.from_json(row) for name, row in obj["tasks"].items()},
                groups={name: GroupRow.from_json(row) for name, row in obj["groups"].items()},
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise OldFormat(f"not a cv.json of format {CV_FORMAT} ({err!r})") from None

    def row_metric(self, name: str) -> str:
        """The metric of one task or group row (a group's is its members')."""
        row = self.tasks.get(name) or self.groups[name]
        return row.metric or self.config.metric or "acc"

    def shared_metric(self) -> str | None:
        """The metric of every row, or None when the rows use different metrics."""
        metrics = {self.row_metric(name) for name in [*self.tasks, *self.groups]}
        metrics = metrics or {self.config.metric or "acc"}
        return metrics.pop() if len(metrics) == 1 else None

    def alpha_rows(self) -> dict[str, TaskRow | GroupRow]:
        """The rows a choice of α rests on: the groups, else the tasks."""
        return dict(self.groups or self.tasks)

    def cells(self) -> dict[str, Cell]:
        """The run's leaderboard cells: its groups, or its tasks when it has no groups."""
        if self.groups:
            return {name: _group_cell(g) for name, g in self.groups.items()}
        return {name: _task_cell(t) for name, t in self.tasks.items()}

    def corrected(self, method: str, tasks: dict[str, TaskRow], groups: dict[str, GroupRow]) -> CVResult:
        """This result after the report's correction ``method``: ``tasks`` and ``groups`` replaced."""
        return replace(self, config=replace(self.config, correction=method), tasks=tasks, groups=groups)


def _task_cell(row: TaskRow) -> Cell:
    c = row.correction
    return Cell(row.delta_cv, float(row.significant), 1, row.ci95, row.significant, row.p_value,
                c.p_adjusted if c else None, c.mde if c else None)


def _group_cell(row: GroupRow) -> Cell:
    c = row.correction
    return Cell(row.delta_cv, row.share_significant, row.n_tasks, row.ci95, bool(row.significant),
                row.p_value, c.p_adjusted if c else None, c.mde if c else None)


_CORRECTION_KEYS = ("p_adjusted", "raw_level", "mde")


def _correction_json(correction: Correction | None) -> dict[str, Any]:
    return {} if correction is None else asdict(correction)


def _correction_from(obj: Mapping[str, Any]) -> Correction | None:
    if "p_adjusted" not in obj:
        return None
    return Correction(**{k: obj[k] for k in _CORRECTION_KEYS})


def _without_correction(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in _CORRECTION_KEYS}

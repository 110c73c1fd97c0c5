"""leaderboard.json (docs/formats.md, "leaderboard.json"): every row's (checkpoint's, base's)
score at α = 1, mean TuCo and cross-validated gain per task and group, and the paired tests
between rows on the same documents, as `Board` with `from_json` / `to_json` (keys in the
format's order: a board read and written again is byte-identical).

Format 2 is read; `report` writes the file before anything reads it, so an older one is refused
with `OldFormat` (run `report` again)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from tuco_eval.records.cv_json import OldFormat

BOARD_FORMAT = 2  # 2: significance after the report's correction across tasks; Δ_CV's p, se and
# detectable effect per entry; groups' intervals from their documents
BASE = "base"  # a row's kind: the base model alone
CHECKPOINT = "checkpoint"  # a row's kind: a fine-tuned checkpoint
__all__ = ["BASE", "BOARD_FORMAT", "CHECKPOINT", "Board", "BoardEntry", "BoardRow", "OldFormat", "PairTest"]


TASK_KEYS = ("metric", "n", "score", "stderr", "tuco", "score_cv", "delta_cv", "ci", "alpha_chosen",
             "alphas_by_fold", "p", "p_adjusted", "significant", "se", "mde")  # a task entry's, in order
GROUP_KEYS = ("metric", "n", "n_tasks", "score", "stderr", "tuco", "score_cv", "delta_cv", "ci",
              "alpha_chosen", "p", "p_adjusted", "significant", "se", "mde")  # a group entry's


@dataclass(frozen=True)
class BoardEntry:
    """One row's figures of a task (a result row: task, or task and filter) or of a group
    (lm-eval's aggregate of its members, the paper's Δ_CV); the cross-validated ones are None
    where the row was not swept over α."""

    metric: str | None  # None: a group of members with different metrics
    n: int
    score: float  # at α = 1
    stderr: float | None
    tuco: float | None  # mean TuCo; None where not logged
    score_cv: float | None
    delta_cv: float | None
    ci: list[float] | None
    alpha_chosen: float | None
    p: float | None
    p_adjusted: float | None
    significant: bool | None
    se: float | None
    mde: float | None
    n_tasks: int | None = None  # a group's member rows; None for a task
    alphas_by_fold: list[float] | None = None  # a task's α chosen per fold

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in (TASK_KEYS if self.n_tasks is None else GROUP_KEYS)}


@dataclass(frozen=True)
class BoardRow:
    """A checkpoint (or the base): where it came from, its entries per task and group."""

    label: str
    source: str | None
    step: int | None
    kind: str  # BASE or "checkpoint"
    run_dir: str
    tasks: dict[str, BoardEntry]
    groups: dict[str, BoardEntry]

    def cell(self, name: str) -> BoardEntry | None:
        """The row's entry for a leaderboard column: a group, or a task (a run without groups
        has its tasks as columns, beside other runs' groups)."""
        return self.groups.get(name) or self.tasks.get(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label, "source": self.source, "step": self.step, "kind": self.kind,
            "run_dir": self.run_dir,
            "tasks": {name: e.to_json() for name, e in self.tasks.items()},
            "groups": {name: e.to_json() for name, e in self.groups.items()},
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> BoardRow:
        return cls(
            **{k: obj[k] for k in ("label", "source", "step", "kind", "run_dir")},
            tasks={name: BoardEntry(**e) for name, e in obj["tasks"].items()},
            groups={name: BoardEntry(**e) for name, e in obj["groups"].items()},
        )


@dataclass(frozen=True)
class PairTest:
    """One paired test: row b minus row a on one task or group's documents."""

    a: str
    b: str
    task: str  # the task or group
    level: str  # "task" or "group"
    metric: str | None
    n: int
    diff: float
    ci: list[float]
    test: str
    p: float
    p_holm: float  # Holm within the pair's own (family, task)
    significant: bool  # after the report's correction (`p_adjusted` below the level)
    family: str
    m: int  # pairs of its (family, task)
    p_adjusted: float | None = None  # None until the report's correction
    raw_level: float | None = None
    mde: float | None = None
    m_report: int | None = None  # tests of its (family, level) across the report
    null_spread: float | None = None  # spread of the diff under no difference; never written

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "null_spread"}


@dataclass(frozen=True)
class FamilyCount:
    """A (family, task or group): its pairs' number and how many are significant."""

    family: str
    task: str
    level: str
    m: int
    significant: int


@dataclass(frozen=True)
class Board:
    """A whole leaderboard.json."""

    format: int
    correction: dict[str, str]  # {"method", "description"}
    metric: str | None  # None: the rows' tasks use different metrics
    objective: str
    level: float  # of every interval
    significance_level: float
    seed: int
    n_boot: int
    prompts: dict[str, list]  # {"unchecked": [labels], "differ": [lines]}
    rows: list[BoardRow]
    pairs: list[PairTest]
    pair_families: list[str]
    family_counts: list[FamilyCount]

    @property
    def base(self) -> BoardRow | None:
        return next((r for r in self.rows if r.kind == BASE), None)

    def columns(self, first: list[str] | tuple[str, ...] = ()) -> list[str]:
        """The leaderboard's columns: ``first`` (the swept runs' columns, in their order), then
        each other row's groups, or its tasks when it has none, in order of appearance."""
        names = list(first)
        for row in self.rows:
            names += list(row.groups or row.tasks)
        return list(dict.fromkeys(names))

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["rows"] = [r.to_json() for r in self.rows]
        out["pairs"] = [p.to_json() for p in self.pairs]
        out["family_counts"] = [asdict(c) for c in self.family_counts]
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Board:
        try:
            if obj["format"] != BOARD_FORMAT:
                raise OldFormat(f"leaderboard.json format {obj['format']}, this tuco-eval reads "
                                f"{BOARD_FORMAT}; run `tuco-eval report` again")
            plain = {f.name: obj[f.name] for f in fields(cls)}
            plain["rows"] = [BoardRow.from_json(r) for r in obj["rows"]]
            plain["pairs"] = [PairTest(**p) for p in obj["pairs"]]
            plain["family_counts"] = [FamilyCount(**c) for c in obj["family_counts"]]
            return cls(**plain)
        except (KeyError, TypeError, AttributeError) as err:
            raise OldFormat(f"not a leaderboard.json of format {BOARD_FORMAT} ({err!r})") from None

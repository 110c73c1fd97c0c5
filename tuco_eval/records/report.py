"""The report model: everything `tuco-eval report` shows, computed once by
`tuco_eval.analysis.report_model.build_report` and drawn by `tuco_eval.render` (Markdown, LaTeX,
CSV, PNG/SVG, HTML) without computing anything more."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from tuco_eval.records.board_json import Board
from tuco_eval.records.cv_json import Cell, CVResult, TaskRow

# the paper's Table 3 columns, in its order
KNOWN_GROUPS = {
    "tuco_mmlu_humanities": "Humanities",
    "tuco_mmlu_stem": "STEM",
    "tuco_mmlu_social_sciences": "Social Sciences",
    "tuco_mmlu_other": "Other",
    "tuco_behavior_morality": "Morality",
    "tuco_behavior_political": "Political",
    "tuco_behavior_religion": "Religious",
    "tuco_behavior_personality": "Personality",
    "tuco_behavior_desires": "Desires",
}
FLIP_KINDS = ("fixed", "broken")


@dataclass(frozen=True)
class Run:
    """One RUN_DIR with its cross-validation result; ``label`` names the checkpoint in tables."""

    label: str
    run_dir: Path
    cv: CVResult

    @cached_property
    def columns(self) -> dict[str, Cell]:
        """Leaderboard cells: the run's groups, or its tasks when it has no groups (built once)."""
        return self.cv.cells()


@dataclass(frozen=True)
class Flip:
    """One doc whose score changes between α = 1 and ``alpha``: *fixed* (better at α) or *broken*."""

    task: str
    alpha: float
    kind: str  # one of FLIP_KINDS
    doc_id: int
    score_at_one: float
    score_at_alpha: float
    prompt: str
    target: str
    answer_at_one: str
    answer_at_alpha: str


@dataclass(frozen=True)
class RunFlips:
    """A run's flips: per task the α's compared with α = 1, the docs that flip, and their tally."""

    alphas: dict[str, list[float]]
    flips: list[Flip]
    tally: dict[tuple[str, float], dict[str, int]]  # (task, α) → {kind: docs}


@dataclass(frozen=True)
class AlphaCurve:
    """A score against α: one task's or group's, or one mode's of a task."""

    acc_by_alpha: dict[str, float]  # format_alpha keys
    chosen: list[float]  # the α chosen per fold (none for a group's mean curve)
    delta_cv: float | None

    @classmethod
    def of(cls, row: TaskRow) -> AlphaCurve:
        return cls(row.acc_by_alpha, list(row.alphas_chosen), row.delta_cv)


@dataclass(frozen=True)
class RunSettings:
    """What the page shows of a swept run's configuration (its run.json and cv.json)."""

    model_args: str
    alphas: list[float]
    lm_eval_version: str
    tuco_eval_version: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class LmEvalSettings:
    """What the page shows of a row read from an lm-eval output folder."""

    results_file: str
    model: str
    model_args: str
    limit: Any
    n_shot: dict[str, Any]
    chat_template_sha: str | None
    lm_eval_version: str


@dataclass(frozen=True)
class ModeTask:
    """One task of a RUN_DIR swept in several modes: each mode's CV and each pair of modes."""

    name: str
    n: int
    metric: str
    acc_alpha1: float
    modes: dict[str, dict[str, float]]  # mode → {"acc_cv", "delta_cv"}
    pairs: dict[str, dict[str, Any]]  # "a - b" → {"diff", "p_value", "better"}
    significant: dict[str, bool]  # "a - b" → significant after Benjamini–Hochberg
    best: str
    curves: dict[str, AlphaCurve]  # mode → its curve


@dataclass(frozen=True)
class ModeReport:
    """A RUN_DIR swept in several modes (``run``: its row's label)."""

    run: str
    label: str  # its cv label
    modes: list[str]
    folds: int
    seed: int
    significance_level: float
    metric: str | None  # None: tasks of different metrics
    tasks: list[ModeTask]


@dataclass(frozen=True)
class SeriesLine:
    """A leaderboard column against training step (checkpoint_series)."""

    name: str
    score: list[float | None]
    score_cv: list[float | None]
    tuco: list[float | None]
    base: float | None
    significant: list[bool]  # differs from what it is compared with, after the correction


@dataclass(frozen=True)
class CheckpointSeries:
    """The checkpoints with a step, and one line per leaderboard column."""

    steps: list[int]
    lines: list[SeriesLine]
    kind: str  # what a column is: "group", "task" or "group or task"
    compared: str  # "the base" or "the previous checkpoint"


@dataclass(frozen=True)
class Report:
    """One report: the swept runs (after the correction), the leaderboard with its pair tests,
    and the views each output draws."""

    runs: list[Run]  # rows swept over α, training order
    board: Board
    columns: list[str]  # the swept runs' leaderboard columns (paper's groups first)
    column_kind: str  # "group", "task" or "group or task"
    metric: str | None  # the one metric of every swept run (None: they differ)
    correction: str  # the correction's description
    group_curves: dict[str, dict[str, AlphaCurve]]  # label → group → mean curve over its tasks
    flips: dict[str, RunFlips]
    settings: dict[str, RunSettings]  # swept runs, by label
    lm_eval: dict[str, LmEvalSettings]  # rows read from lm-eval folders, by label
    modes: list[ModeReport] = field(default_factory=list)
    series: CheckpointSeries | None = None  # None: fewer than two checkpoints with a step

    @property
    def board_columns(self) -> list[str]:
        """Every row's leaderboard columns, the swept runs' first."""
        return self.board.columns(self.columns)

"""The report's tables as files: the leaderboard (the paper's Table 3) in Markdown, LaTeX and CSV,
the per-task results, the comparison of checkpoints, leaderboard.json with pairs.csv, and
flips.csv. Cells are formatted here; `tables` writes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tuco_eval.records.board_json import Board
from tuco_eval.records.cv_json import Cell
from tuco_eval.records.report import KNOWN_GROUPS, Flip, Report
from tuco_eval.render import tables
from tuco_eval.render.cv_tables import WEIGHTED_LABEL, group_table, significance_note, task_table
from tuco_eval.render.plots import metric_name
from tuco_eval.util.files import atomic_write_json, atomic_write_text
from tuco_eval.util.params import format_alpha


def _cell(column: Cell | None) -> str:
    if column is None:
        return "–"
    mark = "*" if column.significant else ""
    return f"{100 * column.delta_cv:+.2f}{mark} ({100 * column.share_significant:.0f}%)"


def runs_significance_note(model: Report) -> str:
    """`significance_note` of the report's correction, at the swept runs' level."""
    return significance_note(model.correction, model.runs[0].cv.config.significance_level)


def leaderboard(model: Report) -> tuple[list[str], list[list[str]]]:
    """Table 3 of the paper: a row per checkpoint, Δ_CV (points) and share of significant tasks."""
    columns = model.columns
    headers = ["Checkpoint", *(KNOWN_GROUPS.get(c, c) for c in columns)]
    rows = [[run.label, *(_cell(run.columns.get(c)) for c in columns)] for run in model.runs]
    return headers, rows


def leaderboard_csv(model: Report) -> str:
    """The leaderboard with plain numbers: two columns per group (Δ_CV in points, share)."""
    columns = model.columns
    headers = ["checkpoint"]
    for c in columns:
        headers += [f"{c}:delta_cv_points", f"{c}:share_significant"]
    rows = []
    for run in model.runs:
        row = [run.label]
        for c in columns:
            cell = run.columns.get(c)
            row += (
                ["", ""]
                if cell is None
                else [f"{100 * cell.delta_cv:.4f}", f"{cell.share_significant:.4f}"]
            )
        rows.append(row)
    return tables.csv_text(headers, rows)


def explanation(model: Report) -> str:
    """The leaderboard's caption: what a cell means, with the runs' CV settings."""
    cfg = model.runs[0].cv.config
    metric = model.metric
    name = metric_name(metric) if metric else "the task's metric (tasks.md names it)"
    sense = "" if cfg.objective == "max" else " (lower is better, so a gain is negative)"
    weighted = any(g.weighted_by_size for run in model.runs for g in run.cv.groups.values())
    return (
        f"Cells: Δ_CV = {name} at the cross-validated α minus {name} at α=1, in points (×100){sense}, "
        f"mean over the group's tasks; in parentheses the share of its tasks with a significant gain. "
        f"{cfg.folds}-fold CV, seed {cfg.seed}. {runs_significance_note(model)}."
    ) + (
        f" tasks.md also gives, for the groups lm-eval averages weighted by size, the figure "
        f"'{WEIGHTED_LABEL}'."
        if weighted
        else ""
    )


def _task_csv(model: Report) -> str:
    headers = [
        "checkpoint",
        "task",
        "metric",
        "n",
        "acc_alpha1",
        "acc_cv",
        "delta_cv",
        "ci95_low",
        "ci95_high",
        "p_value",
        "p_adjusted",
        "significant",
        "se",
        "mde",
        "alphas_chosen",
    ]
    rows = [
        [
            run.label,
            task,
            run.cv.row_metric(task),
            str(r.n),
            repr(r.acc_alpha1),
            repr(r.acc_cv),
            repr(r.delta_cv),
            repr(r.ci95[0]),
            repr(r.ci95[1]),
            repr(r.p_value),
            repr(r.correction.p_adjusted if r.correction else None),
            str(r.significant).lower(),
            repr(r.se),
            "" if r.correction is None or r.correction.mde is None else repr(r.correction.mde),
            " ".join(map(repr, r.alphas_chosen)),
        ]
        for run in model.runs
        for task, r in run.cv.tasks.items()
    ]
    return tables.csv_text(headers, rows)


def _task_markdown(model: Report) -> str:
    parts = [
        "# Per-task cross-validation results",
        "",
        f"Values ×100; Δ CV in points; {runs_significance_note(model)}.",
        "",
    ]
    for run in model.runs:
        parts += [f"## {run.label}", "", tables.markdown(*task_table(run.cv))]
        if run.cv.groups:
            parts += [tables.markdown(*group_table(run.cv))]
    return "\n".join(parts)


def comparison(model: Report) -> tuple[list[str], list[list[str]]]:
    """Δ_CV (points, * = significant) of every task, a column per checkpoint."""
    runs = model.runs
    tasks = sorted({task for run in runs for task in run.cv.tasks})
    rows = []
    for task in tasks:
        cells = [run.cv.tasks.get(task) for run in runs]
        rows.append(
            [
                task,
                *(
                    "–" if r is None else f"{100 * r.delta_cv:+.2f}" + "*" * r.significant
                    for r in cells
                ),
            ]
        )
    return ["Task", *(run.label for run in runs)], rows


def write_tables(model: Report, out_dir: Path) -> list[Path]:
    """leaderboard.{md,tex,csv}, tasks.{md,tex,csv} and, for several runs, comparison.{md,csv}."""
    runs = model.runs
    headers, rows = leaderboard(model)
    note = explanation(model)
    files = [
        atomic_write_text(
            out_dir / "leaderboard.md",
            f"# TuCo leaderboard\n\n{note}\n\n{tables.markdown(headers, rows)}",
        ),
        atomic_write_text(out_dir / "leaderboard.tex", tables.latex(headers, rows, caption=note)),
        atomic_write_text(out_dir / "leaderboard.csv", leaderboard_csv(model)),
        atomic_write_text(out_dir / "tasks.md", _task_markdown(model)),
        atomic_write_text(
            out_dir / "tasks.tex",
            "".join(
                tables.latex(*task_table(r.cv), caption=f"{r.label}: per-task results (×100)")
                for r in runs
            ),
        ),
        atomic_write_text(out_dir / "tasks.csv", _task_csv(model)),
    ]
    if len(runs) > 1:
        files += [
            atomic_write_text(
                out_dir / "comparison.md",
                f"# Δ CV per task and checkpoint (points)\n\n{runs_significance_note(model)}.\n\n"
                + tables.markdown(*comparison(model)),
            ),
            atomic_write_text(out_dir / "comparison.csv", tables.csv_text(*comparison(model))),
        ]
    return files


PAIRS_CSV_HEADERS = [
    "a", "b", "task", "level", "metric", "n", "test", "diff", "ci_low", "ci_high", "p", "p_holm",
    "significant", "family", "m", "p_adjusted", "mde",
]  # fmt: skip


def pairs_csv(board: Board) -> str:
    """pairs.csv: one line per (pair of rows, task or group)."""
    rows = [
        [
            p.a, p.b, p.task, p.level, p.metric or "", str(p.n), p.test,
            repr(p.diff), repr(p.ci[0]), repr(p.ci[1]), repr(p.p), repr(p.p_holm),
            str(p.significant).lower(), p.family, str(p.m), repr(p.p_adjusted),
            "" if p.mde is None else repr(p.mde),
        ]
        for p in board.pairs
    ]  # fmt: skip
    return tables.csv_text(PAIRS_CSV_HEADERS, rows)


def write_board(board: Board, out_dir: Path) -> list[Path]:
    """leaderboard.json and pairs.csv in ``out_dir``, written atomically."""
    atomic_write_json(out_dir / "leaderboard.json", board.to_json())
    return [
        out_dir / "leaderboard.json",
        atomic_write_text(out_dir / "pairs.csv", pairs_csv(board)),
    ]


FLIPS_CSV_HEADERS = [
    "checkpoint", "task", "alpha", "kind", "doc_id", "score_alpha1", "score_alpha",
    "target", "answer_alpha1", "answer_alpha", "prompt",
]


def flips_csv(flips_by_run: Mapping[str, Sequence[Flip]]) -> str:
    """flips.csv: one row per (checkpoint, task, α, doc) that flips."""
    rows = [
        [
            label, f.task, format_alpha(f.alpha), f.kind, str(f.doc_id), repr(f.score_at_one),
            repr(f.score_at_alpha), f.target, f.answer_at_one, f.answer_at_alpha, f.prompt,
        ]
        for label, flips in flips_by_run.items()
        for f in flips
    ]
    return tables.csv_text(FLIPS_CSV_HEADERS, rows)

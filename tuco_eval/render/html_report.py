"""`index.html` of `tuco-eval report`: the leaderboard of checkpoints (and the base), the paired
tests between them, per-task results, plots, per-doc flips and the run configurations on one
self-contained page. This module gathers each section's values; the markup is the template's
(render/templates/report.html.j2, see tuco_eval.render.html_page)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from tuco_eval.records.board_json import Board, BoardEntry
from tuco_eval.records.cv_json import Cell
from tuco_eval.records.report import FLIP_KINDS, KNOWN_GROUPS, Flip, LmEvalSettings, Report
from tuco_eval.render import plots
from tuco_eval.render.cv_tables import group_table, interval_text, significance_note, task_table
from tuco_eval.render.html_page import Annotated, Table, Tag, TextBlock, relative_name, write_page
from tuco_eval.render.html_pairs import pairs_section
from tuco_eval.render.report_tables import runs_significance_note
from tuco_eval.util.params import format_alpha


@dataclass(frozen=True)
class Lead:
    """A section the page opens on, above the leaderboard (e.g. a demo's findings).

    `html` is markup rendered by a template (`html_page.render`, marked safe with
    `markupsafe.Markup`); figures go in as data URIs, so the page stays self-contained."""

    title: str
    html: Markup
    heading: str | None = None  # the page's <h1> in place of "TuCo leaderboard"
    refresh_seconds: int | None = None  # the browser reloads the page this often (a live run)


LISTED = 25  # docs listed per (task, α, kind); flips.csv has them all
TABLE_FILES = (".md", ".tex", ".csv", ".json")
CELLS = ("score", "Δ_CV", "α", "TuCo")  # the leaderboard's columns per group (or task)
SERIES = "checkpoint_series"


def _delta_cells(model: Report) -> dict[tuple[str, str], str | Annotated]:
    """(run label, column) → the paper's Table 3 cell: Δ_CV (share significant), * and its CI,
    its p-values and detectable gain on hover."""
    cells: dict[tuple[str, str], str | Annotated] = {}
    for run in model.runs:
        for name in model.columns:
            column = run.columns.get(name)
            if column is None:
                cells[run.label, name] = "–"
                continue
            text = f"{100 * column.delta_cv:+.2f} ({100 * column.share_significant:.0f}%)"
            ci = column.ci95
            significant = ci is not None and column.significant
            note = None if ci is None else interval_text(ci, column.delta_cv, column.p_value)
            cells[run.label, name] = Annotated(text, significant, note, _delta_title(column))
    return cells


def _delta_title(column: Cell) -> str | None:
    """The hover text of a Δ_CV cell: its test, and what it could have detected."""
    if column.p_value is None:
        return None
    words = f"p = {column.p_value:.3g}"
    if column.p_adjusted is not None:
        words += f", adjusted p = {column.p_adjusted:.3g}"
    if not column.significant:
        mde = column.mde
        words += "; n.s." + ("" if mde is None else f" (detectable ≥ {100 * mde:.2f} points)")
    return words


def _score(entry: BoardEntry) -> str | Annotated:
    if entry.stderr is None:
        return f"{100 * entry.score:.2f}"
    return Annotated(f"{100 * entry.score:.2f}", note=f"±{100 * entry.stderr:.2f}")


GROUP_WORDS = "group (Δ_CV the unweighted mean over its tasks, as the paper)"
COLUMN_WORDS = {"group": GROUP_WORDS, "task": "task",
                "group or task": f"{GROUP_WORDS}, or task for a run without groups"}


def _present(board: Board, columns: Sequence[str]) -> list[str]:
    """The cell kinds some row has a value for: score always; Δ_CV and α where a row was swept
    over α; TuCo where a row logged it."""
    entries = [e for row in board.rows for name in columns if (e := row.cell(name)) is not None]
    has = {"score": True, "Δ_CV": any(e.delta_cv is not None for e in entries),
           "α": any(e.alpha_chosen is not None for e in entries),
           "TuCo": any(e.tuco is not None for e in entries)}
    return [c for c in CELLS if has[c]]


def leaderboard_section(model: Report) -> dict[str, Any]:
    board, columns = model.board, model.board_columns
    shown = _present(board, columns)
    deltas = _delta_cells(model)
    rows = []
    for row in board.rows:
        cells: list[Any] = [row.label, "–" if row.step is None else str(row.step)]
        for name in columns:
            entry = row.cell(name)
            if entry is None:
                cells += ["–"] * len(shown)
                continue
            alpha = entry.alpha_chosen
            values = {
                "score": _score(entry),
                "Δ_CV": deltas.get((row.label, name), "–"),
                "α": "–" if alpha is None else format_alpha(alpha),
                "TuCo": "–" if entry.tuco is None else f"{entry.tuco:.3f}",
            }
            cells += [values[c] for c in shown]
        rows.append(cells)
    headers = ["Checkpoint", "step", *(c for _ in columns for c in shown)]
    bands = [("", 2), *((KNOWN_GROUPS.get(c, c), len(shown)) for c in columns)]
    metric = board.metric
    return {
        "table": Table(headers, rows, [row.kind for row in board.rows], bands),
        "metric": plots.metric_name(metric) if metric else "each task's metric",
        "what": COLUMN_WORDS[model.column_kind],
        "swept": "Δ_CV" in shown,
        "significance": significance_note(board.correction["description"], board.significance_level),
        "prompts": board.prompts,
    }


def _alphas(model: Report) -> list[str]:
    found = {a for run in model.runs for r in run.cv.tasks.values() for a in r.acc_by_alpha}
    return sorted(found, key=float)


def tasks_section(model: Report) -> dict[str, Any]:
    runs = model.runs
    note = runs_significance_note(model)
    metric = runs[0].cv.shared_metric() or "score"  # rows with different metrics: "score" at each α
    alphas = _alphas(model)
    headers = ["Checkpoint", *task_table(runs[0].cv)[0], *(f"{metric} α={a}" for a in alphas)]
    rows = []
    for run in runs:
        for row in task_table(run.cv)[1]:  # whatever rows the table has, keyed by its first cell
            own = run.cv.tasks.get(row[0])
            by_alpha = own.acc_by_alpha if own else {}
            rows.append([run.label, *row, *(f"{100 * by_alpha[a]:.2f}" if a in by_alpha else "–" for a in alphas)])
    groups = [(run.label, Table(*group_table(run.cv))) for run in runs if run.cv.groups]
    return {"metric": plots.metric_name(metric), "table": Table(headers, rows), "groups": groups,
            "significance": note}


def _caption(stem: str) -> str:
    name = stem.replace("accuracy_vs_alpha_modes_", "scaling modes compared: ")
    name = name.replace("accuracy_vs_alpha_", "accuracy versus α: ").replace("heatmap_", "α heat map: ")
    return name.replace("_", " ")


def figures_section(files: Sequence[Path]) -> dict[str, list[tuple[str, str]]]:
    svgs = [f for f in files if f.suffix == ".svg"]
    return {
        kind: [(f.read_text(), _caption(f.stem)) for f in svgs if f.stem.startswith(prefix)]
        for kind, prefix in (("curves", "accuracy_vs_alpha_"), ("heat", "heatmap_"))
    }


def _alpha_label(alpha: float) -> str:
    return "α = 0 (base blocks)" if alpha == 0 else f"α = {format_alpha(alpha)}"


def _flip_docs(flips: Sequence[Flip], alpha: float) -> Table:
    headers = ["", "doc", "prompt", "target", "answer at α = 1", f"answer at {_alpha_label(alpha)}"]
    rows: list[list[Any]] = []
    for kind in FLIP_KINDS:
        of_kind = [f for f in flips if f.kind == kind]
        for f in of_kind[:LISTED]:
            rows.append([
                Tag(kind, kind),
                str(f.doc_id),
                TextBlock(f.prompt) if f.prompt else Tag("not stored", "muted"),
                TextBlock(f.target, 400),
                TextBlock(f.answer_at_one, 400),
                TextBlock(f.answer_at_alpha, 400),
            ])
        if len(of_kind) > LISTED:
            rows.append(["…", "", f"{len(of_kind) - LISTED} more {kind}: see flips.csv", "", "", ""])
    return Table(headers, rows)


@dataclass(frozen=True)
class FlipBlock:
    """One (run, task, α) whose flipped docs the page lists in a folded block."""

    label: str
    task: str
    alpha: str
    fixed: int
    broken: int
    docs: Table = field(repr=False)


def flips_section(model: Report) -> dict[str, Any]:
    rows, blocks, without_texts = [], [], []
    for run in model.runs:
        found = model.flips[run.label]
        flips, tally = found.flips, found.tally
        for task, alphas in found.alphas.items():
            n = run.cv.tasks[task].n if task in run.cv.tasks else ""
            for alpha in alphas:
                c = tally.get((task, alpha), dict.fromkeys(FLIP_KINDS, 0))
                rows.append([run.label, task, format_alpha(alpha), str(c["fixed"]), str(c["broken"]),
                             f"{c['fixed'] - c['broken']:+d}", str(n)])
                members = [f for f in flips if f.task == task and f.alpha == alpha]
                if members:
                    blocks.append(FlipBlock(run.label, task, _alpha_label(alpha), c["fixed"], c["broken"],
                                            _flip_docs(members, alpha)))
        if flips and not any(f.prompt for f in flips):
            without_texts.append(run.label)
    table = Table(["Checkpoint", "Task", "α", "fixed", "broken", "net", "n"], rows) if rows else None
    return {"table": table, "blocks": blocks, "without_texts": without_texts}


def configs_section(model: Report) -> list[tuple[str, dict[str, str]]]:
    configs = []
    for run in model.runs:
        info, cfg = model.settings[run.label], run.cv.config
        configs.append((run.label, {
            "run dir": str(run.run_dir),
            "model_args": info.model_args,
            "α grid": ", ".join(format_alpha(a) for a in info.alphas),
            "tasks": f"{len(run.cv.tasks)}",
            "folds / seed": f"{cfg.folds} folds, seed {cfg.seed}",
            "metric / objective": f"{cfg.metric or 'each task its own'} ({cfg.objective})",
            "bootstrap / permutations": str(cfg.n_boot),
            "significance level": str(cfg.significance_level),
            "lm-eval / tuco-eval": f"{info.lm_eval_version} / {info.tuco_eval_version}",
            "sweep settings": json.dumps(info.metadata, ensure_ascii=False),
        }))
    return configs


def lm_eval_config(run: LmEvalSettings) -> dict[str, str]:
    """What the page shows of an lm-eval run: which results file, model, and its settings."""
    return {
        "results file": run.results_file,
        "model / model_args": f"{run.model} / {run.model_args}",
        "limit": str(run.limit),
        "few-shot": json.dumps(run.n_shot),
        "chat template": "sha " + run.chat_template_sha[:8] if run.chat_template_sha else "none",
        "lm-eval": run.lm_eval_version,
    }


def write_report_page(model: Report, out_dir: Path, files: Sequence[Path], lead: Lead | None = None) -> Path:
    """Write ``out_dir/index.html`` from the report model and the files `report` wrote; `lead`,
    when given, is the first section."""
    board, runs = model.board, model.runs
    configs = configs_section(model) + [(label, lm_eval_config(run)) for label, run in model.lm_eval.items()]
    sections = [("lead", lead.title)] if lead else []
    sections.append(("leaderboard", "Leaderboard"))
    if len(board.rows) > 1:  # one row has nothing to be compared with
        sections.append(("pairs", "Paired tests between checkpoints"))
    series = next((f.read_text() for f in files if f.name == f"{SERIES}.svg"), None)
    if series is not None:
        sections.append(("series", "Checkpoints by training step"))
    if runs:  # the α sweeps' sections
        sections += [("per-task", "Per-task results"), ("figures", "Figures"),
                     ("flips", "Docs that flip between α = 1 and other α")]
    sections.append(("reading", "How to read this page"))
    if configs:
        sections.append(("configs", "Run configurations"))
    sections.append(("files", "Tables as files"))
    labels = ", ".join(row.label for row in board.rows)
    heading = lead.heading if lead and lead.heading else "TuCo leaderboard"
    return write_page(
        out_dir / "index.html", "report.html.j2",
        title=f"{heading}: {labels}", heading=heading, labels=labels, sections=sections, lead=lead,
        refresh=lead.refresh_seconds if lead else None, leaderboard=leaderboard_section(model),
        pairs=pairs_section(board, KNOWN_GROUPS) if len(board.rows) > 1 else None,
        series=series, tasks=tasks_section(model) if runs else None, figures=figures_section(files),
        flips=flips_section(model), configs=configs,
        reading={"correction": board.correction["description"]},
        files=[relative_name(f, out_dir) for f in files if f.suffix in TABLE_FILES],
    )

"""`index.html` of `tuco-eval report`: the leaderboard of checkpoints (and the base), the paired
tests between them, per-task results, plots, per-doc flips and the run configurations on one
self-contained page (see tuco_eval.render.html_page)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tuco_eval.analysis.flips import KINDS, Flip, counts
from tuco_eval.analysis.leaderboard import KNOWN_GROUPS, Run, cell_interval, leaderboard_columns
from tuco_eval.analysis.run_cv import shared_metric
from tuco_eval.render import plots
from tuco_eval.render.cv_tables import group_table, task_table
from tuco_eval.render.html_page import (
    Num,
    Raw,
    esc,
    relative_link,
    svg_figure,
    table,
    text_block,
    write_page,
)
from tuco_eval.render.html_pairs import pairs_section
from tuco_eval.render.report_tables import explanation, leaderboard
from tuco_eval.store.run_json import read_run_info
from tuco_eval.util.params import format_alpha


@dataclass(frozen=True)
class Lead:
    """A section the page opens on, above the leaderboard (e.g. a demo's findings).

    `html` is markup already escaped by its builder (html_page's helpers: `esc`, `table`,
    `svg_figure`); figures go in as data URIs, so the page stays self-contained."""

    title: str
    html: str
    heading: str | None = None  # the page's <h1> in place of "TuCo leaderboard"


LISTED = 25  # docs listed per (task, α, kind); flips.csv has them all
TABLE_FILES = (".md", ".tex", ".csv", ".json")
CELLS = ("score", "Δ_CV", "α", "TuCo")  # the leaderboard's columns per group (or task)
SERIES = "checkpoint_series"


def _delta_cells(runs: Sequence[Run]) -> dict[tuple[str, str], str | Num]:
    """(run label, column) → the paper's Table 3 cell: Δ_CV (share significant), * and its CI."""
    _, rows = leaderboard(runs)
    columns = leaderboard_columns(runs)
    cells: dict[tuple[str, str], str | Num] = {}
    for run, row in zip(runs, rows, strict=True):
        for name, text in zip(columns, row[1:], strict=False):
            entry = run.columns.get(name) or {}
            ci, significant = cell_interval(run, entry)
            extra = "" if ci is None else f'<br><span class="ci">[{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]</span>'
            mark = '<span class="sig">*</span>' if significant else ""
            cells[run.label, name] = Num(f"{esc(text)}{mark}{extra}") if extra or mark else text
    return cells


def _score(entry: Mapping) -> str | Num:
    if entry.get("stderr") is None:
        return f"{100 * entry['score']:.2f}"
    return Num(f'{100 * entry["score"]:.2f}<br><span class="ci">±{100 * entry["stderr"]:.2f}</span>')


def _leaderboard(runs: Sequence[Run], board: Mapping) -> str:
    columns = leaderboard_columns(runs)
    level = "groups" if any(row["groups"] for row in board["rows"]) else "tasks"
    deltas = _delta_cells(runs)
    rows, attrs = [], []
    for row in board["rows"]:
        cells: list[str | Num] = [row["label"], "–" if row["step"] is None else str(row["step"])]
        for name in columns:
            entry = row[level].get(name)
            if entry is None:
                cells += ["–"] * len(CELLS)
                continue
            alpha = entry.get("alpha_chosen")
            cells += [
                _score(entry),
                deltas.get((row["label"], name), "–"),
                "–" if alpha is None else format_alpha(alpha),
                "–" if entry.get("tuco") is None else f"{entry['tuco']:.3f}",
            ]
        rows.append(cells)
        attrs.append(f'class="{esc(row["kind"])}"')
    headers = ["Checkpoint", "step", *(c for _ in columns for c in CELLS)]
    bands = [("", 2), *((KNOWN_GROUPS.get(c, c), len(CELLS)) for c in columns)]
    metric = board["metric"]
    name = plots.metric_name(metric) if metric else "each task's metric"
    what = "group (the unweighted mean over its tasks, as the paper)" if level == "groups" else "task"
    return (
        f'<p class="note">One row per checkpoint, in training order, and the base model alone '
        f"(italic) where the sweep evaluated it; per {esc(what)}: <b>score</b> = {esc(name)} at "
        "α = 1 (the checkpoint as is; the base row: the base) ×100, below it its standard error "
        "(lm-eval's: sample std / √n; a group: √(Σ se²) / tasks); <b>Δ_CV</b> = "
        f"{esc(explanation(runs).removeprefix('Cells: Δ_CV = '))} Below each Δ_CV its 95% CI in points: a task's paired "
        "bootstrap; for a group, the normal approximation from its tasks' intervals (tasks taken "
        "as independent). * = the interval excludes 0 on the side of a gain (a task: its "
        "sign-flip test). <b>α</b> = the α cross-validation chose in most folds (a group: in "
        "most of its tasks); <b>TuCo</b> = mean TuCo at α = 1 over the docs (the share of the "
        "final representation fine-tuning wrote; – where the sweep did not log it). Click a "
        "header to sort; every value is in leaderboard.json.</p>"
        f'<div class="scroll">{table(headers, rows, "leaderboard", row_attrs=attrs, bands=bands)}</div>'
    )


def _alphas(runs: Sequence[Run]) -> list[str]:
    found = {a for run in runs for r in run.cv["tasks"].values() for a in r["acc_by_alpha"]}
    return sorted(found, key=float)


def _tasks(runs: Sequence[Run]) -> str:
    metric = shared_metric(runs[0].cv) or "score"  # rows with different metrics: "score" at each α
    alphas = _alphas(runs)
    headers = ["Checkpoint", *task_table(runs[0].cv)[0], *(f"{metric} α={a}" for a in alphas)]
    rows = []
    for run in runs:
        for row in task_table(run.cv)[1]:  # whatever rows the table has, keyed by its first cell
            by_alpha = run.cv["tasks"].get(row[0], {}).get("acc_by_alpha", {})
            rows.append(
                [
                    run.label,
                    *row,
                    *(f"{100 * by_alpha[a]:.2f}" if a in by_alpha else "–" for a in alphas),
                ]
            )
    parts = [
        '<p class="note">Values ×100; Δ CV in points with its paired-bootstrap 95% CI; '
        "* = significant gain; “α per fold” is the α cross-validation chose in each fold; the "
        f"last columns are the {esc(plots.metric_name(metric))} at every α of the grid.</p>",
        '<p><label>Filter tasks: <input type="search" id="task-filter" placeholder="task name …" '
        'data-filter="#tasks tbody tr, #s-flips [data-task]"></label></p>',
        f'<div class="scroll">{table(headers, rows, "tasks")}</div>',
    ]
    for run in runs:
        if run.cv["groups"]:
            parts += [
                f"<h3>Groups: {esc(run.label)}</h3>",
                f'<div class="scroll">{table(*group_table(run.cv))}</div>',
            ]
    return "".join(parts)


def _caption(stem: str) -> str:
    name = stem.replace("accuracy_vs_alpha_modes_", "scaling modes compared: ")
    name = name.replace("accuracy_vs_alpha_", "accuracy versus α: ").replace("heatmap_", "α heat map: ")
    return name.replace("_", " ")


def _row(figures: list[str]) -> list[str]:
    return ['<div class="figures">', *figures, "</div>"]


def _series(files: Sequence[Path]) -> str:
    svg = next((f for f in files if f.name == f"{SERIES}.svg"), None)
    if svg is None:
        return ""
    return (
        '<p class="note">Per group (or task), against each checkpoint\'s training step: the '
        "score at α = 1, the score at the cross-validated α and the mean TuCo at α = 1; the "
        "base model's score as a dashed line of the same colour. Also checkpoint_series.png/.svg."
        f"</p>{svg_figure(svg.read_text(), 'checkpoints by training step')}"
    )


def _figures(files: Sequence[Path]) -> str:
    svgs = [f for f in files if f.suffix == ".svg"]
    curves = [f for f in svgs if f.stem.startswith("accuracy_vs_alpha_")]
    heat = [f for f in svgs if f.stem.startswith("heatmap_")]
    parts = ["<h3>Accuracy versus α</h3>"]
    parts += _row([svg_figure(f.read_text(), _caption(f.stem)) for f in curves])
    parts += [
        "<h3>α heat maps</h3>",
        '<p class="note">Change of the metric at each α against α = 1 per task, in points; boxed: '
        "α chosen by cross-validation in some fold.</p>",
    ]
    parts += _row([svg_figure(f.read_text(), _caption(f.stem)) for f in heat])
    return "".join(parts)


def _alpha_label(alpha: float) -> str:
    return "α = 0 (base blocks)" if alpha == 0 else f"α = {format_alpha(alpha)}"


def _flip_docs(flips: Sequence[Flip], alpha: float) -> str:
    headers = ["", "doc", "prompt", "target", "answer at α = 1", f"answer at {_alpha_label(alpha)}"]
    rows = []
    for kind in KINDS:
        of_kind = [f for f in flips if f.kind == kind]
        for f in of_kind[:LISTED]:
            rows.append(
                [
                    Raw(f'<span class="{kind}">{kind}</span>'),
                    str(f.doc_id),
                    text_block(f.prompt) if f.prompt else Raw('<span class="muted">not stored</span>'),
                    text_block(f.target, 400),
                    text_block(f.answer_at_one, 400),
                    text_block(f.answer_at_alpha, 400),
                ]
            )
        if len(of_kind) > LISTED:
            rows.append(["…", "", f"{len(of_kind) - LISTED} more {kind}: see flips.csv", "", "", ""])
    return f'<div class="scroll">{table(headers, rows, sortable=False)}</div>'


def _flips(runs: Sequence[Run], flips_by_run: Mapping[str, tuple[dict, list[Flip]]]) -> str:
    parts = [
        '<p class="note">Per doc, between α = 1 (the fine-tuned model as is) and each other α '
        "of the store: <span class=\"fixed\">fixed</span> = wrong at α = 1, right at α; "
        '<span class="broken">broken</span> = right at α = 1, wrong at α (for a graded metric: '
        "better / worse). A gain in accuracy can hide docs it breaks. At α = 0 (the base's "
        "blocks) “fixed” are docs the base gets right and the fine-tuned model wrong. All of "
        "them are in flips.csv.</p>"
    ]
    headers = ["Checkpoint", "Task", "α", "fixed", "broken", "net", "n"]
    rows, blocks = [], []
    for run in runs:
        alphas_of, flips = flips_by_run.get(run.label, ({}, []))
        tally = counts(flips)
        for task, alphas in alphas_of.items():
            n = run.cv["tasks"].get(task, {}).get("n", "")
            for alpha in alphas:
                c = tally.get((task, alpha), dict.fromkeys(KINDS, 0))
                rows.append(
                    [run.label, task, format_alpha(alpha), str(c["fixed"]), str(c["broken"]),
                     f"{c['fixed'] - c['broken']:+d}", str(n)]
                )
                members = [f for f in flips if f.task == task and f.alpha == alpha]
                if members:
                    blocks.append(
                        f'<details data-task="{esc(task)}"><summary><b>{esc(run.label)}</b> · '
                        f"{esc(task)} · {esc(_alpha_label(alpha))}: "
                        f'<span class="fixed">{c["fixed"]} fixed</span>, '
                        f'<span class="broken">{c["broken"]} broken</span></summary>'
                        f"{_flip_docs(members, alpha)}</details>"
                    )
        if flips and not any(f.prompt for f in flips):
            parts.append(
                f'<p class="note">{esc(run.label)}: this store has no doc texts (swept before '
                "tuco-eval kept them); a new sweep into a fresh RUN_DIR stores them.</p>"
            )
    if not rows:
        return parts[0] + '<p class="muted">No α besides 1 in the stores.</p>'
    parts.append(f'<div class="scroll">{table(headers, rows, "flip-counts")}</div>')
    parts.append("<h3>Flipped docs</h3>" + ("".join(blocks) or '<p class="muted">None.</p>'))
    return "".join(parts)


def _configs(runs: Sequence[Run]) -> str:
    parts = []
    for run in runs:
        info = read_run_info(run.run_dir)
        cfg = run.cv["config"]
        items = {
            "run dir": str(run.run_dir),
            "model_args": info.get("model_args", ""),
            "α grid": ", ".join(format_alpha(a) for a in info.get("alphas", [])),
            "tasks": f"{len(run.cv['tasks'])}",
            "folds / seed": f"{cfg['folds']} folds, seed {cfg['seed']}",
            "metric / objective": f"{cfg['metric'] or 'each task its own'} ({cfg['objective']})",
            "bootstrap / permutations": str(cfg.get("n_boot", "")),
            "significance level": str(cfg.get("significance_level", "")),
            "lm-eval / tuco-eval": f"{info.get('lm_eval_version', '?')} / {info.get('tuco_eval_version', '?')}",
            "sweep settings": json.dumps(info.get("metadata", {}), ensure_ascii=False),
        }
        rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items.items())
        parts.append(f'<h3>{esc(run.label)}</h3><dl class="config">{rows}</dl>')
    return "".join(parts)


def _links(files: Sequence[Path], out_dir: Path) -> str:
    tabular = [f for f in files if f.suffix in TABLE_FILES]
    items = "".join(f"<li>{relative_link(f, out_dir)}</li>" for f in tabular)
    return (
        f"<ul>{items}</ul><p class=\"note\">leaderboard.json holds every row's values and every "
        "paired test (its keys: docs/cv.md); pairs.csv the paired tests. Figures are also beside "
        "this page as PNG and SVG.</p>"
    )


def write_report_page(
    runs: Sequence[Run],
    out_dir: Path,
    files: Sequence[Path],
    flips_by_run: Mapping[str, tuple[dict, list[Flip]]],
    board: Mapping,
    lead: Lead | None = None,
) -> Path:
    """Write ``out_dir/index.html`` from the runs, the files `report` wrote, the flips and the
    leaderboard.json object ``board`` (checkpoint_board.build_board); `lead`, when given, is
    the first section."""
    sections = [("lead", lead.title, lead.html)] if lead else []
    sections.append(("leaderboard", "Leaderboard", _leaderboard(runs, board)))
    if len(board["rows"]) > 1:  # one row has nothing to be compared with
        sections.append(("pairs", "Paired tests between checkpoints", pairs_section(board, KNOWN_GROUPS)))
    series = _series(files)
    if series:
        sections.append(("series", "Checkpoints by training step", series))
    sections += [
        ("per-task", "Per-task results", _tasks(runs)),
        ("figures", "Figures", _figures(files)),
        ("flips", "Docs that flip between α = 1 and other α", _flips(runs, flips_by_run)),
        ("configs", "Run configurations", _configs(runs)),
        ("files", "Tables as files", _links(files, out_dir)),
    ]
    nav = "".join(f'<a href="#s-{key}">{esc(title)}</a>' for key, title, _ in sections)
    labels = ", ".join(row["label"] for row in board["rows"])
    heading = lead.heading if lead and lead.heading else "TuCo leaderboard"
    body = (
        f"<h1>{esc(heading)}</h1><p class=\"muted\">{esc(labels)}</p><nav>{nav}</nav>"
        + "".join(
            f'<section id="s-{key}"><h2>{esc(title)}</h2>{content}</section>'
            for key, title, content in sections
        )
    )
    return write_page(out_dir / "index.html", f"{heading}: {labels}", body)

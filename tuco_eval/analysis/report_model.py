"""The report built once: run rows (RUN_DIRs, ROOTs' rows, lm-eval folders, as
`checkpoint_rows.Entry`) in, one `records.report.Report` out, with every figure, test, flip and
view the outputs show computed here; `tuco_eval.render` only draws it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tuco_eval.analysis import flips
from tuco_eval.analysis.checkpoint_board import build_board
from tuco_eval.analysis.checkpoint_rows import Entry
from tuco_eval.analysis.leaderboard import (
    column_kind,
    corrected_runs,
    leaderboard_columns,
    load_runs,
    runs_metric,
)
from tuco_eval.analysis.mode_comparison import load_modes_cv, mode_view
from tuco_eval.records.board_json import BASE, Board
from tuco_eval.records.report import (
    FLIP_KINDS,
    AlphaCurve,
    CheckpointSeries,
    LmEvalSettings,
    ModeReport,
    Report,
    Run,
    RunFlips,
    RunSettings,
    SeriesLine,
)
from tuco_eval.stats.multiplicity import CORRECTIONS, DEFAULT_CORRECTION
from tuco_eval.store.lm_eval_output import LmEvalRun
from tuco_eval.store.run_json import mode_roots, read_run_info


def build_report(
    entries: Sequence[Entry],
    pairs: Sequence[str] | None = None,
    allow_different_prompts: bool = False,
    say: Callable[[str], None] = print,
    correction: str = DEFAULT_CORRECTION,
    cluster_key: str | None = None,
) -> Report:
    """The report of ``entries`` (training order, base first; lm-eval α runs already gathered
    into RUN_DIRs): the swept rows' CV after ``correction`` across their tasks, the leaderboard
    with the paired tests of the families ``pairs`` (None: the default for these rows), flips,
    settings, mode comparisons and the checkpoint series. ``say`` hears which rows' prompts
    could not be checked."""
    checkpoints = [e for e in entries if e.kind != BASE and e.lm_eval is None]  # the α sweeps
    runs = load_runs([e.run_dir for e in checkpoints], labels=[e.label for e in checkpoints],
                     cluster_key=cluster_key)
    runs = corrected_runs(runs, correction)  # every star after the correction across tasks
    board = build_board(entries, runs, pairs, allow_different_prompts, correction, cluster_key)
    if board.prompts["unchecked"]:
        say(f"prompts could not be checked for {', '.join(board.prompts['unchecked'])} (swept "
            "before tuco-eval stored each doc's prompt hash); their settings were compared")
    columns = leaderboard_columns(runs)
    return Report(
        runs=runs,
        board=board,
        columns=columns,
        column_kind=column_kind(runs) if runs else "group or task",
        metric=runs_metric(runs),
        correction=CORRECTIONS[correction],
        group_curves={run.label: group_curves(run) for run in runs},
        flips={run.label: run_flips(run) for run in runs},
        settings={run.label: run_settings(run) for run in runs},
        lm_eval={e.label: lm_eval_settings(e.lm_eval) for e in entries if e.lm_eval is not None},
        modes=[m for m in (mode_report(run) for run in runs) if m is not None],
        series=checkpoint_series(board, columns, runs),
    )


def group_curves(run: Run) -> dict[str, AlphaCurve]:
    """Per group: the mean over its tasks at each α (like the group's Δ_CV), where all have it."""
    out = {}
    for name, group in run.cv.groups.items():
        members = [run.cv.tasks[t].acc_by_alpha for t in group.tasks]
        alphas = sorted(set.intersection(*(set(m) for m in members)), key=float)
        means = {a: sum(m[a] for m in members) / len(members) for a in alphas}
        out[name] = AlphaCurve(means, [], group.delta_cv)
    return out


def run_flips(run: Run) -> RunFlips:
    """{task: the α's compared with α = 1}, the docs that flip on the cv metric, and their tally."""
    alphas_of, found = {}, []
    for name, row in run.cv.tasks.items():
        grid = [float(a) for a in row.acc_by_alpha]
        task, key = row.task or name, row.key or run.cv.row_metric(name)
        alphas_of[name], task_found = flips.task_flips(
            run.run_dir, task, key, run.cv.config.objective, alphas=grid, row=name
        )
        found += task_found
    tally: dict[tuple[str, float], dict[str, int]] = {}
    for flip in found:
        tally.setdefault((flip.task, flip.alpha), dict.fromkeys(FLIP_KINDS, 0))[flip.kind] += 1
    return RunFlips(alphas_of, found, tally)


def run_settings(run: Run) -> RunSettings:
    info = read_run_info(run.run_dir)
    return RunSettings(
        model_args=info.model_args if info.has("model_args") else "",
        alphas=list(info.alphas),
        lm_eval_version=info.lm_eval_version if info.has("lm_eval_version") else "?",
        tuco_eval_version=info.tuco_eval_version if info.has("tuco_eval_version") else "?",
        metadata=info.metadata,
    )


def lm_eval_settings(run: LmEvalRun) -> LmEvalSettings:
    results, config = run.results, run.results.get("config") or {}
    return LmEvalSettings(
        results_file=str(run.results_path),
        model=run.model,
        model_args=run.model_args,
        limit=config.get("limit"),
        n_shot=results.get("n-shot") or {},
        chat_template_sha=str(results["chat_template_sha"]) if results.get("chat_template_sha") else None,
        lm_eval_version=str(results.get("lm_eval_version", "?")),
    )


def mode_report(run: Run) -> ModeReport | None:
    """A RUN_DIR swept in several modes, compared (`mode_comparison.mode_view`); None for one mode."""
    if len(mode_roots(run.run_dir)) < 2:
        return None
    return mode_view(load_modes_cv(Path(run.run_dir)), run.label)


def checkpoint_series(board: Board, columns: Sequence[str], runs: Sequence[Run]) -> CheckpointSeries | None:
    """Score, cross-validated score and mean TuCo per leaderboard column against training step,
    where at least two checkpoints have one; a point is marked where the checkpoint differs
    significantly from the base (else from the row before it), in whichever family tested it."""
    rows = [r for r in board.rows if r.kind != BASE and r.step is not None]
    if len(rows) < 2:
        return None
    base = board.base
    order = [r.label for r in board.rows]
    compared_to = {r.label: base.label if base else (order[order.index(r.label) - 1]
                                                     if order.index(r.label) else None)
                   for r in rows}
    significant: dict[tuple[str, str], bool] = {}
    for pair in sorted(board.pairs, key=lambda p: ("base", "adjacent", "all").index(p.family)):
        if compared_to.get(pair.b) == pair.a:
            significant.setdefault((pair.task, pair.b), pair.significant)

    def values(name: str, key: str) -> list[float | None]:
        return [getattr(r.cell(name), key) if r.cell(name) else None for r in rows]

    lines = [
        SeriesLine(
            name=name, score=values(name, "score"), score_cv=values(name, "score_cv"),
            tuco=values(name, "tuco"),
            base=base.cell(name).score if base and base.cell(name) else None,
            significant=[significant.get((name, r.label), False) for r in rows],
        )
        for name in board.columns(columns)
    ]
    return CheckpointSeries(
        steps=[r.step for r in rows], lines=lines,
        kind=column_kind(runs) if runs else ("group" if any(r.groups for r in rows) else "task"),
        compared="the base" if base else "the previous checkpoint",
    )

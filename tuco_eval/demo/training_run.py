"""The demo's training run: the persona adapter's checkpoints (steps 8, 16, 24) against the base,
benchmarked as a user benchmarks one (README "Benchmark your checkpoints"): one
`sweep --finetuned 'persona_checkpoints/checkpoint-*'` with the base loaded once and the adapters
swapped on it, then `report` of the ROOT (leaderboard.json, the paired tests, the series figure).

Its findings (`findings`) feed the demo's page, summary.md and console: per step the agreement at
α = 1 with each persona next to the base's, the mean TuCo, and which steps differ significantly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuco_eval.demo.summary import pct, pts
from tuco_eval.records.board_json import BASE, Board, BoardRow, PairTest
from tuco_eval.render import tables
from tuco_eval.sweeps.settings import EvalSettings
from tuco_eval.util.params import format_alpha

GROUP = "tuco_demo_personas"
PREFIX = "tuco_demo_persona_"


def training_run_part(settings: Any, out_dir: Path, device: str, evaluation: EvalSettings, pair: Any,
                      persona_run: Path) -> dict[str, Any]:
    """Sweep the shipped checkpoints and the base into out_dir/training-run, report it into
    out_dir/training-run/report; returns the leaderboard and the files.

    `pair` is part 1's persona pair: its base serves the base row and the checkpoints' adapters
    are swapped on it (its adapter ships no tokenizer: the pair's is the base's); the last
    checkpoint is that adapter, so its units are part 1's `persona_run`, copied."""
    from tuco_eval.analysis.checkpoint_board import read_board
    from tuco_eval.demo.assets import PERSONA_CHECKPOINTS_DIR, fetch_base
    from tuco_eval.pipeline.report import report
    from tuco_eval.store.checkpoints import resolve_checkpoints
    from tuco_eval.sweeps.series import sweep_checkpoints
    from tuco_eval.sweeps.settings import Grid, ModelOptions

    folder, gguf = fetch_base(verbose=False)
    root = out_dir / "training-run"
    pattern = str(PERSONA_CHECKPOINTS_DIR / "checkpoint-*")
    last = resolve_checkpoints([pattern])[-1].label
    print(f"      tuco-eval sweep --finetuned '{pattern}' (steps 8, 16, 24; the last is the persona "
          f"adapter, swept in part 1) against the base, α {list(settings.alphas)}, {GROUP}; then "
          f"tuco-eval report")
    sweep_checkpoints([pattern], [GROUP], root, model_args=f"base={folder},base_gguf_file={gguf}",
                      settings=evaluation, grid=Grid(alphas=settings.alphas),
                      model_options=ModelOptions(batch_size=settings.batch_size, device=device),
                      base=(pair.model, pair.tokenizer), reuse={last: persona_run})
    files = report([root], root / "report")  # a training run's families: vs the base, step to step
    board = read_board(root / "report" / "leaderboard.json")
    run = {"root": root, "board": board, "figure": root / "report" / "checkpoint_series.svg", "files": files}
    for line in findings(board)["sentences"]:
        print(f"      {line}")
    return run


def _name(row: BoardRow) -> str:
    return "base" if row.kind == BASE else f"step {row.step}"


def findings(board: Board) -> dict[str, Any]:
    """The training run in a table (one row per base/step: agreement per persona at α = 1, mean
    TuCo, Δ_CV and chosen α of the group) and in sentences (TuCo by step, the paired tests)."""
    rows = board.rows
    tasks = [t for t in rows[0].tasks if t.startswith(PREFIX)]
    headers = ["model", *(t.removeprefix(PREFIX) for t in tasks), "mean", "mean TuCo",
               "Δ_CV (pts)", "α chosen"]
    table = []
    for row in rows:
        group = row.groups[GROUP]
        table.append([_name(row), *(pct(row.tasks[t].score) for t in tasks), pct(group.score),
                      "–" if group.tuco is None else f"{group.tuco:.3f}",
                      "–" if group.delta_cv is None else pts(group.delta_cv),
                      "–" if group.alpha_chosen is None else format_alpha(group.alpha_chosen)])
    return {"headers": headers, "rows": table, "sentences": [_tuco_sentence(rows), _pairs_sentence(board)]}


def _tuco_sentence(rows: list[BoardRow]) -> str:
    steps = [r for r in rows if r.kind != BASE]
    tuco = ", ".join(f"{r.groups[GROUP].tuco:.3f} at step {r.step}" for r in steps)
    agreement = ", ".join(f"{pct(r.groups[GROUP].score)} %" for r in rows)
    return (f"Mean agreement with the personas at α = 1: {agreement} (base, then steps "
            f"{', '.join(str(r.step) for r in steps)}); mean TuCo: {tuco}.")


FAMILY_WORDS = {"base": "Against the base", "adjacent": "Each step against the previous row", "all": "Every two rows"}


def _pairs_sentence(board: Board) -> str:
    """Per family of pairs, which rows beat which on the same docs (the group's paired tests,
    after the report's correction), and what the others could have detected."""
    names = {r.label: _name(r) for r in board.rows}
    correction = board.correction["description"]

    def said(p: PairTest) -> str:
        if not p.significant:
            mde = "" if p.mde is None else f", detectable ≥ {100 * p.mde:.1f}"
            return f"{names[p.b]} vs {names[p.a]} {pts(p.diff)} (n.s.{mde})"
        winner, loser = (p.b, p.a) if p.diff > 0 else (p.a, p.b)
        return f"{names[winner]} over {names[loser]} {pts(abs(p.diff))} (adjusted p {p.p_adjusted:.2g})"

    parts = []
    for family in board.pair_families:
        pairs = [p for p in board.pairs if p.task == GROUP and p.family == family]
        if pairs:
            parts.append(f"{FAMILY_WORDS.get(family, family)}: " + "; ".join(said(p) for p in pairs))
    return (f"Paired tests on the same docs (points; {correction}, level {board.significance_level:g}) — "
            + ". ".join(parts) + ".")


def summary_section(training: dict | None) -> str:
    """Part 2 of summary.md: the persona adapter's checkpoints against the base (offline only)."""
    if training is None:
        return "## 2. A training run: not run (the shipped checkpoints are adapters on the offline base)\n"
    found = findings(training["board"])
    sentences = "\n\n".join(found["sentences"])
    return f"""## 2. A training run: the persona adapter's checkpoints against the base

The persona adapter's training saved steps 8, 16 and 24 (`tuco_eval/demo/persona_checkpoints/`;
step 24 is the adapter above). One `tuco-eval sweep --finetuned 'persona_checkpoints/checkpoint-*'`
benchmarked them against the base (loaded once, the adapters swapped on it), `tuco-eval report`
compared them. Agreement (%) at α = 1 per persona (the base row: the base model alone), mean TuCo
at α = 1, and the group's Δ_CV with the α chosen most often:

{tables.markdown(found["headers"], found["rows"])}

{sentences}

![the checkpoints by training step](training-run/report/checkpoint_series.png)

The checkpoints' own report: `training-run/report/index.html` (leaderboard.json, pairs.csv, a
row per checkpoint against the base and the previous step).
"""

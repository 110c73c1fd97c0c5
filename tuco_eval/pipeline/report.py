"""`tuco-eval report` as a function: run folders in, the report's files out. Rows are resolved
(`analysis.checkpoint_rows`), lm-eval α runs gathered into RUN_DIRs (`sweeps.lm_eval_import`),
the report built once (`analysis.report_model`) and drawn (`render.report`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tuco_eval.analysis.checkpoint_rows import resolve_rows
from tuco_eval.analysis.report_model import build_report
from tuco_eval.render.html_report import Lead
from tuco_eval.render.report import write_report
from tuco_eval.stats.multiplicity import DEFAULT_CORRECTION
from tuco_eval.sweeps.lm_eval_import import gather_alpha_sweeps
from tuco_eval.util.errors import TucoError

ALPHA_SWEEPS = "lm_eval_alpha_sweeps"  # where report gathers lm-eval α runs into RUN_DIRs


def report(
    run_dirs: Sequence[Path],
    out_dir: Path,
    lead: Lead | None = None,
    labels: Sequence[str] | None = None,
    pairs: Sequence[str] | None = None,
    allow_different_prompts: bool = False,
    say: Callable[[str], None] = print,
    correction: str = DEFAULT_CORRECTION,
    cluster_key: str | None = None,
) -> list[Path]:
    """Write the leaderboard (tables, leaderboard.json), the paired tests (pairs.csv), per-task
    tables, plots, flips.csv and index.html into ``out_dir``. ``run_dirs`` are RUN_DIRs, ROOTs and
    lm-eval output folders in any mix (``labels`` names the lm-eval runs); `lead` is a section
    index.html opens on (see html_report.Lead); `pairs` the families of paired tests
    (stats.paired.FAMILIES; None: the default for these rows); every star follows ``correction``
    (stats.multiplicity) across the report's tasks; ``cluster_key`` names a doc field clustering
    every task's docs (else each task's own); ``say`` hears which of several lm-eval runs is read
    and which rows' prompts could not be checked."""
    if not run_dirs:
        raise TucoError("give at least one RUN_DIR, ROOT or lm-eval output folder")
    out_dir = Path(out_dir)
    # a pair's tuco_scaled runs at several α: one swept row, gathered beside the report
    entries = gather_alpha_sweeps(resolve_rows(run_dirs, labels, say), out_dir / ALPHA_SWEEPS)
    model = build_report(entries, pairs, allow_different_prompts, say, correction, cluster_key)
    return write_report(model, out_dir, lead)

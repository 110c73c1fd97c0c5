"""`tuco-eval report RUN_DIR|ROOT [...] --output DIR`: leaderboard tables, paired tests, plots."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "leaderboard (Markdown, LaTeX, CSV, leaderboard.json), paired tests between checkpoints "
    "(pairs.csv), per-task tables and plots for RUN_DIRs and ROOTs of checkpoints; runs `cv` "
    "with default settings where cv.json is missing"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs",
        type=Path,
        nargs="+",
        metavar="RUN_DIR_OR_ROOT",
        help="sweep outputs: a RUN_DIR per checkpoint, or a ROOT (a folder with checkpoints.json, "
        "or of RUN_DIRs; the base model's own RUN_DIR gives the base row), in any mix",
    )
    parser.add_argument(
        "--output", dest="out", metavar="DIR", type=Path, default=Path("tuco_report"),
        help="folder for the report files",
    )
    parser.add_argument(
        "--pairs", default=None, metavar="FAMILIES", type=lambda text: tuple(text.split(",")),
        help="families of paired tests, Holm within each: base (each checkpoint vs the base), "
        "adjacent (each step vs the previous), all (every two rows), comma-separated; default: "
        "base,adjacent for a training series with its base, all for unrelated runs",
    )


def run(args: argparse.Namespace) -> int:
    from tuco_eval.render.report import report

    for path in report(args.run_dirs, args.out, pairs=args.pairs):
        print(path)
    return 0

"""`tuco-eval report RUN_DIR [RUN_DIR ...] --output DIR`: leaderboard tables and plots."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "leaderboard (Markdown, LaTeX, CSV), per-task tables and plots for one or more RUN_DIRs; "
    "runs `cv` with default settings where cv.json is missing"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs",
        type=Path,
        nargs="+",
        metavar="RUN_DIR",
        help="sweep outputs, one per checkpoint",
    )
    parser.add_argument(
        "--output", dest="out", metavar="DIR", type=Path, default=Path("tuco_report"),
        help="folder for the report files",
    )


def run(args: argparse.Namespace) -> int:
    from tuco_eval.report import report

    for path in report(args.run_dirs, args.out):
        print(path)
    return 0

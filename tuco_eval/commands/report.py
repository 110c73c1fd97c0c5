"""`tuco-eval report RUN_DIR|ROOT|LM_EVAL_OUTPUT [...] --output DIR`: leaderboard tables, paired
tests, plots."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "Write the leaderboard (Markdown, LaTeX, CSV, leaderboard.json), paired tests between checkpoints "
    "(pairs.csv), per-task tables and plots for RUN_DIRs and ROOTs of checkpoints and for lm-eval "
    "--log_samples output folders; runs `cv` with default settings where cv.json is missing"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs",
        type=Path,
        nargs="+",
        metavar="RUN_DIR_OR_ROOT",
        help="sweep outputs: a RUN_DIR per checkpoint, or a ROOT (a folder with checkpoints.json, "
        "or of RUN_DIRs; the base model's own RUN_DIR gives the base row); or lm-eval's "
        "--output_path folders of runs made with --log_samples (the newest run of each model "
        "folder, or the results_*.json named); in any mix",
    )
    parser.add_argument(
        "--labels", default=None, metavar="A,B,...",
        type=lambda text: [label.strip() for label in text.split(",")],
        help="one label per lm-eval run, in the order given; the label 'base' makes that run the "
        "base row (default: from each run's model_args, step-N for a checkpoint-N, else the "
        "model's last name part)",
    )
    parser.add_argument(
        "--allow-different-prompts", action="store_true",
        help="pair rows whose prompts differ (few-shot count, chat template, --limit, per-doc "
        "prompt); refused by default, and marked on the page when allowed",
    )
    parser.add_argument(
        "--output", dest="out", metavar="DIR", type=Path, default=Path("tuco_report"),
        help="folder for the report files",
    )
    parser.add_argument(
        "--pairs", default=None, metavar="FAMILIES", type=lambda text: tuple(text.split(",")),
        help="families of paired tests, each corrected on its own: base (each checkpoint vs the "
        "base), adjacent (each step vs the previous), all (every two rows), comma-separated "
        "(default: base where a row is the base, adjacent where every checkpoint has a step, "
        "all where neither)",
    )
    add_correction_argument(parser)
    add_cluster_argument(parser)


def add_cluster_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cluster-key", default=None, metavar="FIELD",
        help="a doc field that clusters every task's docs (e.g. a passage id): standard errors, "
        "paired tests and the CV's folds, resamples and permutations then take clusters as units "
        "(default: a task's own metadata cluster_key, else none)",
    )


def add_correction_argument(parser: argparse.ArgumentParser) -> None:
    from tuco_eval.stats.multiplicity import CORRECTIONS, DEFAULT_CORRECTION

    parser.add_argument(
        "--correction", choices=tuple(CORRECTIONS), default=DEFAULT_CORRECTION,
        help="the correction every star follows, run over every test of its kind across the "
        "tasks: bh (Benjamini-Hochberg, false discovery rate 5%%) or holm (family-wise error 5%%) "
        "(default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    from tuco_eval.pipeline.report import report

    for path in report(args.run_dirs, args.out, labels=args.labels, pairs=args.pairs,
                       allow_different_prompts=args.allow_different_prompts,
                       correction=args.correction, cluster_key=args.cluster_key):
        print(path)
    return 0

"""`tuco-eval cv RUN_DIR` (or `cv --output DIR LM_EVAL_OUTPUT...`): choose alpha by K-fold
cross-validation, print the table, write cv.json."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "Cross-validate alpha per task on a sweep's RUN_DIR, or on lm-eval output folders of "
    "`--model tuco_scaled` runs at different alpha (with --output DIR); prints the table and "
    "writes cv.json"
)


def folds_count(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer >= 2, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", type=Path, nargs="+", metavar="RUN_DIR",
        help="output folder of `tuco-eval sweep`; or lm-eval --output_path folders (or "
        "results_*.json files) of `lm_eval --model tuco_scaled ... alpha=X --log_samples` runs "
        "of one pair, one per alpha",
    )
    parser.add_argument(
        "--output", type=Path, default=None, metavar="DIR",
        help="with lm-eval folders: the RUN_DIR to gather their alpha sweep in (cv.json is "
        "written there; `tuco-eval report DIR` reads it)",
    )
    parser.add_argument(
        "--folds", type=folds_count, default=5, help="number of cross-validation folds K"
    )
    parser.add_argument(
        "--objective",
        choices=("max", "min"),
        default="max",
        help="whether a higher (max) or lower (min) metric is better; with min a gain is a negative delta",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the fold split, bootstrap and permutation test"
    )
    parser.add_argument(
        "--metric",
        default=None,
        metavar="NAME",
        help="per-doc metric stored by the sweep (acc, acc_norm, exact_match, ...) for every task "
        "(default: each task's primary metric, the first of its metric_list; acc where unknown)",
    )
    parser.add_argument(
        "--filter",
        default=None,
        metavar="NAME",
        help="of a task with several lm-eval filters (gsm8k: strict-match, flexible-extract), "
        "report only this one; by default each filter is its own row <task>,<filter>",
    )


    from tuco_eval.commands.report import add_cluster_argument, add_correction_argument

    add_correction_argument(parser)
    add_cluster_argument(parser)


def _settings(args: argparse.Namespace) -> dict:
    return dict(folds=args.folds, objective=args.objective, seed=args.seed, metric=args.metric,
                filter=args.filter, cluster_key=args.cluster_key)


def run(args: argparse.Namespace) -> int:
    from tuco_eval.analysis.run_cv import cross_validate
    from tuco_eval.render.cv_tables import format_table
    from tuco_eval.store.run_json import mode_roots

    args.run_dir = _run_dir(args)
    if set(mode_roots(args.run_dir)) - {"activation"}:  # swept with --modes: compare them
        return _run_modes(args, format_table)
    from tuco_eval.stats.multiplicity import CORRECTIONS
    from tuco_eval.stats.significance import corrected_cv

    result = cross_validate(args.run_dir, **_settings(args))
    print(format_table(corrected_cv([result], args.correction)[0], CORRECTIONS[args.correction]))
    print(f"wrote {args.run_dir / 'cv.json'}")
    return 0


def _run_dir(args: argparse.Namespace) -> Path:
    """The RUN_DIR to cross-validate: the one given, or --output with the lm-eval α runs in it."""
    from tuco_eval.sweeps.lm_eval_import import gather_for_cv

    return gather_for_cv(args.run_dir, args.output)


def _run_modes(args: argparse.Namespace, format_table) -> int:
    from tuco_eval.analysis.mode_comparison import cross_validate_modes, mode_view
    from tuco_eval.render.mode_tables import format_modes_table
    from tuco_eval.stats.multiplicity import CORRECTIONS, DEFAULT_CORRECTION

    result = cross_validate_modes(args.run_dir, **_settings(args))
    for mode, per_mode in result.per_mode.items():  # each mode's own table, uncorrected
        print(f"## mode {mode}\n\n{format_table(per_mode, CORRECTIONS[DEFAULT_CORRECTION])}\n")
    print(format_modes_table(mode_view(result)))
    print(f"wrote {args.run_dir / 'modes.json'} and each mode's cv.json")
    return 0

"""`tuco-eval watch TRAIN_DIR --model-args base=PT --tasks T --output ROOT`: a training run's
checkpoints evaluated as they land (tuco_eval.watch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tuco_eval.commands.pair_options import add_verbosity_argument
from tuco_eval.commands.sweep import (
    Settings,
    add_evaluation_arguments,
    model_options,
    with_remote_code,
)

HELP = (
    "Evaluate a training folder's checkpoint-<step> folders as the trainer finishes them, in step "
    "order, against one base loaded once, into one ROOT; the report is rewritten after each one"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "train_dir", type=Path, metavar="TRAIN_DIR",
        help="the trainer's output folder, where it writes checkpoint-<step> folders (full models "
        "or PEFT adapters; HF Trainer, TRL, axolotl)",
    )
    parser.add_argument(
        "--model-args", required=True,
        help="base=PT[,dtype=...,mode=...]: as `sweep --finetuned` takes them (no pretrained=)",
    )
    parser.add_argument(
        "--output", required=True, type=Path, metavar="ROOT",
        help="the ROOT of the series (as `sweep --finetuned` writes it) and ROOT/watch.json",
    )
    parser.add_argument(
        "--report-dir", type=Path, default=None, metavar="DIR",
        help="where the report is rewritten after each checkpoint (default: ROOT/report)",
    )
    parser.add_argument(
        "--until-step", type=int, default=None, metavar="N",
        help="stop once a checkpoint of step N or later is done (default: when the trainer's final "
        "model appears in TRAIN_DIR, or Ctrl-C)",
    )
    parser.add_argument(
        "--once", action="store_true",
        help="evaluate the checkpoints finished now, then stop (for cron jobs)",
    )
    parser.add_argument(
        "--poll-seconds", type=float, default=30.0, help="how often TRAIN_DIR is looked at"
    )
    parser.add_argument(
        "--settle-seconds", type=float, default=10.0,
        help="a checkpoint without trainer_state.json is read once its files stay unchanged this long",
    )
    parser.add_argument(
        "--stale-seconds", type=float, default=1800.0,
        help="a checkpoint left half-written this long while a later one is whole is skipped",
    )
    for name in ("wandb", "trackio"):
        parser.add_argument(
            f"--{name}-args", nargs="+", default=None, metavar="KEY=VALUE",
            help=f"log each checkpoint's scores, TuCo, Δ_CV and difference with the base to "
            f"{'Weights & Biases' if name == 'wandb' else 'Trackio'} at its training step: "
            f"{name}.init arguments, e.g. project=my-evals name=sft-run (needs {name})",
        )
    add_verbosity_argument(parser, default="ERROR")  # a watcher prints one line per checkpoint
    add_evaluation_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tuco_eval.sweeps.series import parse_series_args
    from tuco_eval.util.errors import TucoError
    from tuco_eval.util.files import ensure_writable_dir
    from tuco_eval.util.params import parse_key_values
    from tuco_eval.watch.loop import Watcher, WatchPlan
    from tuco_eval.watch.trackers import Tracker

    if not args.train_dir.is_dir():
        raise TucoError(f"TRAIN_DIR {args.train_dir} is not a folder; give the trainer's output_dir "
                        "(create it first if training has not started)")
    for flag in ("poll_seconds", "settle_seconds", "stale_seconds"):
        if getattr(args, flag) < 0:
            raise TucoError(f"--{flag.replace('_', '-')} must be 0 or more")
    args.model_args = with_remote_code(args.model_args, args.trust_remote_code)
    settings = Settings.from_args(args)
    parse_series_args(args.model_args)  # a base=, no pretrained=: before anything loads
    ensure_writable_dir(args.output, "--output")
    plan = WatchPlan(
        train_dir=args.train_dir, root=args.output, report_dir=args.report_dir or args.output / "report",
        tasks=settings.task_names, model_args=args.model_args, until_step=args.until_step,
        poll_seconds=args.poll_seconds, settle_seconds=args.settle_seconds,
        stale_seconds=args.stale_seconds, once=args.once,
        settings=settings.evaluation(), grid=settings.grid, model_options=model_options(args),
    )
    trackers = [Tracker(name, parse_key_values(values, f"--{name}_args"))
                for name, values in (("wandb", args.wandb_args), ("trackio", args.trackio_args)) if values]
    state = Watcher(plan, trackers=trackers).run()
    return 130 if state.status == "stopped" and not args.once else 0

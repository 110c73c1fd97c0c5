"""`tuco-eval demo`: the whole job on a real pair, offline, in minutes."""

from __future__ import annotations

import argparse
from pathlib import Path

from tuco_eval.commands.pair_options import add_device_argument, resolve_device

HELP = "Run the offline demo: TuCo, an α sweep, 5-fold CV and a report on a real model pair."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tuco_eval.commands.pair_options import add_verbosity_argument

    add_verbosity_argument(parser)
    parser.add_argument(
        "--output", dest="out", metavar="DIR", type=Path, default=Path("tuco-demo"),
        help="folder for the results and report",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a reduced run (3 α, 10 docs per persona) for CI and a first look"
    )
    parser.add_argument(
        "--pair",
        default="offline",
        choices=["offline", "smollm2-hub"],
        help="offline: SmolLM2-135M-Instruct + the project's LoRA adapter; "
        "smollm2-hub: SmolLM2-135M -> SmolLM2-135M-Instruct from the Hub",
    )
    parser.add_argument(
        "--capability", action="store_true",
        help="also run the categories fine-tune (accuracy from the base to the fine-tune; a few "
        "minutes more)",
    )
    add_device_argument(parser)


def run(args: argparse.Namespace) -> int:
    from tuco_eval.demo.run import run_demo

    run_demo(args.out, quick=args.quick, pair_name=args.pair, device=resolve_device(args.device),
             capability=args.capability)
    return 0

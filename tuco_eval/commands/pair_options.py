"""The options that name, load and place a model pair: shared by `score` and `experiment`.

Also the CLI-wide defaults every model-running subcommand shares: the device and the batch size.
"""

from __future__ import annotations

import argparse
from typing import Any

BATCH_SIZE = 8  # prompts per forward pass, the same default in score, experiment and sweep
DEVICE_HELP = "auto (CUDA when available, else CPU), cpu, cuda, cuda:1, mps, ..."


def resolve_device(device: str) -> str:
    """`auto` becomes cuda when a GPU is visible, else cpu; any other name passes through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, help="pre-trained model: Hub id or local folder")
    parser.add_argument(
        "--finetuned",
        required=True,
        help="fine-tuned model: Hub id, local folder, or a PEFT adapter folder on --base",
    )
    parser.add_argument("--revision", default=None, help="Hub revision of --finetuned")
    parser.add_argument("--base-revision", default=None, help="Hub revision of --base")
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16, float16 or auto")
    add_device_argument(parser)
    parser.add_argument("--gguf-file", default=None, help="GGUF file inside --finetuned")
    parser.add_argument("--base-gguf-file", default=None, help="GGUF file inside --base")
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow model code from the Hub (off unless given)",
    )


def load_pair_from(args: argparse.Namespace) -> Any:
    """The pair the options name (tuco_eval.core.pair.Pair)."""
    from tuco_eval.core.pair import load_pair

    return load_pair(
        args.finetuned,
        args.base,
        dtype=args.dtype,
        device=resolve_device(args.device),
        revision=args.revision,
        base_revision=args.base_revision,
        gguf_file=args.gguf_file,
        base_gguf_file=args.base_gguf_file,
        trust_remote_code=args.trust_remote_code,
    )

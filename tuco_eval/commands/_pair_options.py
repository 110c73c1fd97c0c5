"""The options that name, load and place a model pair: shared by `score` and `experiment`."""

from __future__ import annotations

import argparse
from typing import Any


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, help="pre-trained model: Hub id or local folder")
    parser.add_argument(
        "--finetuned",
        required=True,
        help="fine-tuned model: Hub id, local folder, or a PEFT adapter folder on --base",
    )
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16, float16 or auto")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps, ...")
    parser.add_argument("--gguf-file", default=None, help="GGUF file inside --finetuned")
    parser.add_argument("--base-gguf-file", default=None, help="GGUF file inside --base")
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow model code from the Hub (off unless given)",
    )


def load_pair_from(args: argparse.Namespace) -> Any:
    """The pair the options name (tuco_eval.pair.Pair)."""
    from tuco_eval.pair import load_pair

    return load_pair(
        args.finetuned,
        args.base,
        dtype=args.dtype,
        device=args.device,
        gguf_file=args.gguf_file,
        base_gguf_file=args.base_gguf_file,
        trust_remote_code=args.trust_remote_code,
    )

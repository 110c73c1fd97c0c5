"""The options that name, load and place a model pair: shared by `score` and `experiment`.

Also the CLI-wide defaults every model-running subcommand shares: the device and the batch size.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
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


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def add_verbosity_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """lm-eval's --verbosity: lm-eval's log level (tuco_eval.cli applies it)."""
    parser.add_argument(
        "--verbosity", default=default, choices=LEVELS,
        help="lm-eval's log level, as lm-eval's --verbosity" + ("" if default else " (default: lm-eval's own)"),
    )


PAIR_KEYS = {  # --model-args key -> the attribute the commands read (the old flag's dest)
    "pretrained": "finetuned", "base": "base", "revision": "revision", "base_revision": "base_revision",
    "dtype": "dtype", "gguf_file": "gguf_file", "base_gguf_file": "base_gguf_file",
    "trust_remote_code": "trust_remote_code",
}
OLD_PAIR_FLAGS = ("base", "finetuned", "revision", "base_revision", "dtype", "gguf_file", "base_gguf_file")
DTYPE = "auto"  # the checkpoint's own dtype, as lm-eval and every tuco-eval command load it


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-args", default=None, metavar="pretrained=FT,base=PT,...",
        help="the pair, as lm-eval's tuco_scaled takes it: pretrained=FT (Hub id, local folder, or a "
        "PEFT adapter folder on the base),base=PT[,revision=R,base_revision=R,dtype=float32|bfloat16|"
        "float16|auto,gguf_file=G,base_gguf_file=G,trust_remote_code=true] (required; dtype "
        f"defaults to {DTYPE})",
    )
    old = "deprecated: use --model-args"
    parser.add_argument("--base", default=None, help=f"{old} base=PT")
    parser.add_argument("--finetuned", default=None, help=f"{old} pretrained=FT")
    parser.add_argument("--revision", default=None, help=f"{old} revision=R")
    parser.add_argument("--base-revision", default=None, help=f"{old} base_revision=R")
    parser.add_argument("--dtype", default=None, help=f"{old} dtype=D")
    add_device_argument(parser)
    parser.add_argument("--gguf-file", default=None, help=f"{old} gguf_file=G")
    parser.add_argument("--base-gguf-file", default=None, help=f"{old} base_gguf_file=G")
    add_verbosity_argument(parser)
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow model code from the Hub (lm-eval's flag; or trust_remote_code=true in --model-args)",
    )


def say_deprecated(command: str, old: str, use: str) -> None:
    """One stderr line: an old spelling still works, and what to write instead."""
    import sys

    print(f"tuco-eval {command}: {old} deprecated: use {use}", file=sys.stderr)


def resolve_pair_args(args: argparse.Namespace, command: str) -> argparse.Namespace:
    """Fill the pair's attributes (finetuned, base, revision, ..., dtype) from --model-args, or
    from the deprecated flags with a line saying so; one spelling at a time."""
    from tuco_eval.util.errors import TucoError
    from tuco_eval.util.params import parse_flag

    used = [f"--{name.replace('_', '-')}" for name in OLD_PAIR_FLAGS if getattr(args, name) is not None]
    if args.model_args is not None:
        if used:
            raise TucoError(f"give the pair once: --model-args, or the deprecated {', '.join(used)}, not both")
        values = parse_model_args(args.model_args, PAIR_KEYS)
        for key, dest in PAIR_KEYS.items():
            if key != "trust_remote_code":
                setattr(args, dest, values.get(key))
        args.trust_remote_code = args.trust_remote_code or parse_flag(values.get("trust_remote_code", False),
                                                                      "trust_remote_code")
    elif used:
        say_deprecated(command, f"{', '.join(used)} are",
                       "--model-args pretrained=FT,base=PT[,revision=R,base_revision=R,dtype=D] (lm-eval's spelling)")
    for dest, key in (("finetuned", "pretrained"), ("base", "base")):
        if not getattr(args, dest):
            raise TucoError(f"tuco-eval {command} needs the pair: --model-args pretrained=FT,base=PT "
                            f"({key}= is missing)")
    args.dtype = args.dtype or DTYPE
    return args


def parse_model_args(text: str, keys: Iterable[str], what: str = "the pair") -> dict[str, str]:
    """`key=value,...` as lm-eval's --model_args, every key among `keys` (else one line naming them)."""
    from tuco_eval.util.errors import TucoError

    values: dict[str, str] = {}
    for piece in (p.strip() for p in text.split(",") if p.strip()):
        key, equals, value = piece.partition("=")
        if not equals or not key.strip():
            raise TucoError(f"--model-args: expected key=value, got {piece!r}")
        values[key.strip()] = value.strip()
    keys = list(keys)
    unknown = sorted(set(values) - set(keys))
    if unknown:
        raise TucoError(f"--model-args: {', '.join(unknown)}= is not a key of {what}; its keys are {', '.join(keys)}")
    return values


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

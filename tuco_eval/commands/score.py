"""`tuco-eval score`: TuCo of every prompt in a JSONL file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tuco_eval.commands.pair_options import BATCH_SIZE, add_pair_arguments, load_pair_from

HELP = (
    "Measure TuCo of each prompt of a JSONL file, written as JSONL in input order; an interrupted run "
    "resumes from OUTPUT.partial/."
)
SCORE_PIECE = 64  # prompts per checkpointed piece: a rerun after a crash redoes at most this many


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_arguments(parser)
    parser.add_argument(
        "--input", required=True, type=Path, help="prompts, one JSON object per line"
    )
    parser.add_argument("--output", required=True, type=Path, help="where to write the TuCo JSONL")
    parser.add_argument(
        "--text-field", default="text", help="field of each input line holding the prompt"
    )
    parser.add_argument(
        "--apply-chat-template", dest="chat_template", action="store_true",
        help="wrap each prompt as a user turn in the fine-tuned tokenizer's chat template (lm-eval's flag)",
    )
    parser.add_argument(
        "--chat-template", dest="old_chat_template", action="store_true",
        help="deprecated: use --apply-chat-template",
    )
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="prompts per forward pass")
    parser.add_argument(
        "--kl",
        action="store_true",
        help="add kl = KL(p_FT || p_PT) of the next token at the last prompt token "
        "(one extra base pass per batch)",
    )
    parser.add_argument(
        "--shift",
        action="store_true",
        help="add the base rank of the fine-tuned greedy next token and its shift class: "
        "1 unshifted, 2-3 marginal, >3 shifted (same extra base pass as --kl)",
    )
    parser.add_argument(
        "--per-token",
        action="store_true",
        help="add tokens (each token's text) and tuco_per_token (the TuCo of the prompt cut "
        "after each token; the last is tuco), from the same pass",
    )
    parser.add_argument(
        "--html",
        type=Path,
        default=None,
        metavar="PAGE",
        help="also write a self-contained HTML page of every prompt's tokens shaded by TuCo "
        "(implies --per-token)",
    )
    parser.add_argument(
        "--generate",
        type=int,
        default=0,
        metavar="N",
        help="first continue each prompt greedily by up to N tokens at --alpha; records get "
        "response, and per-token TuCo over prompt and response (implies --per-token)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=1.0,
        help="the fine-tuning scale of the --generate continuation (TuCo is always measured "
        "at α = 1)",
    )


def check(args: argparse.Namespace) -> None:
    """The pair, from --model-args or the deprecated flags (tuco_eval.cli calls this after parsing)."""
    from tuco_eval.commands.pair_options import resolve_pair_args, say_deprecated

    resolve_pair_args(args, "score")
    if args.old_chat_template:
        say_deprecated("score", "--chat-template is", "--apply-chat-template")
        args.chat_template = True


def run(args: argparse.Namespace) -> int:
    from tuco_eval import __version__
    from tuco_eval.core.pair import pair_identity
    from tuco_eval.core.tuco import compute_tuco, read_prompts, report_truncated
    from tuco_eval.render.token_page import write_token_page
    from tuco_eval.util.errors import TucoError
    from tuco_eval.util.files import disk_errors, ensure_writable_dir
    from tuco_eval.util.jsonl import write_jsonl_atomic
    from tuco_eval.util.params import parse_alpha
    from tuco_eval.util.resume import discard, resumable_map

    if args.batch_size < 1:
        raise TucoError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.generate < 0:
        raise TucoError(f"--generate must be 0 or more tokens, got {args.generate}")
    if args.alpha != 1.0 and not args.generate:
        raise TucoError("--alpha only scales the --generate continuation: add --generate N")
    parse_alpha(args.alpha)
    per_token = args.per_token or args.html is not None or args.generate > 0
    prompts = read_prompts(args.input, args.text_field)  # fail on a bad file before loading models
    ensure_writable_dir(args.output.parent, "--output")
    if args.html is not None:
        ensure_writable_dir(args.html.parent, "--html")
    pair = load_pair_from(args)
    base_logits = _base_logits(pair) if args.kl or args.shift else None
    dropped = (set() if args.kl else {"kl"}) | (set() if args.shift else {"base_rank", "shift"})

    def score_piece(piece: list[tuple[str, str]], start: int, bar: Any) -> list[dict]:
        results = compute_tuco(
            pair.joint,
            pair.tokenizer,
            [text for _, text in piece],
            batch_size=args.batch_size,
            chat_template=args.chat_template,
            base_logits=base_logits,
            progress=bar,
            warn_truncated=False,  # counted once, over every piece
            per_token=per_token,
            generate=args.generate,
            alpha=args.alpha,
        )
        return [
            {"id": pid, **{k: v for k, v in result.items() if k not in dropped}}
            for (pid, _), result in zip(piece, results, strict=True)
        ]

    partial = args.output.with_name(args.output.name + ".partial")
    key = {
        "command": "score", "tuco_eval": __version__, "models": pair_identity(pair),
        "gguf_file": args.gguf_file, "base_gguf_file": args.base_gguf_file, "dtype": args.dtype,
        "revision": args.revision, "base_revision": args.base_revision,
        "chat_template": args.chat_template, "kl": args.kl, "shift": args.shift,
        "per_token": per_token, "generate": args.generate, "alpha": args.alpha,
    }
    records = resumable_map(
        prompts, score_piece, folder=partial, key=key, piece=SCORE_PIECE, desc="TuCo", unit="prompt"
    )
    with disk_errors(str(args.output), "free space or choose another --output, then rerun the "
                     "same command: the scored pieces are kept"):
        write_jsonl_atomic(args.output, records)
    if args.html is not None:
        with disk_errors(str(args.html), "free space or choose another --html, then rerun"):
            write_token_page(args.html, records, _page_facts(args))
        print(f"wrote the token page to {args.html}")
    discard(partial)
    report_truncated(sum(r["truncated"] for r in records))
    mean = sum(r["tuco"] for r in records) / len(records)
    print(f"wrote TuCo of {len(records)} prompts to {args.output} (mean TuCo {mean:.4f})")
    return 0


def _base_logits(pair):
    from functools import partial

    from tuco_eval.core.base_pass import base_forward, last_logits

    return partial(last_logits, base_forward(pair.model, pair.base))


def _page_facts(args: argparse.Namespace) -> dict[str, Any]:
    facts = {"fine-tuned": args.finetuned, "base": args.base, "prompts": args.input.name}
    if args.generate:
        facts["response"] = f"up to {args.generate} greedy tokens at α = {args.alpha:g}"
    return facts

"""`tuco-eval experiment`: one of the paper's measurement experiments, end to end."""

from __future__ import annotations

import argparse
from pathlib import Path

from tuco_eval.commands.pair_options import BATCH_SIZE, add_pair_arguments, load_pair_from
from tuco_eval.experiments import NAMES

HELP = (
    "Measure TuCo and OutputCo across the prompt sets of a paper experiment (web-vs-chat, languages, "
    "many-shot, gcg): per-prompt JSONL, summary with AUCs, and plots."
)


def _shots(value: str) -> list[int]:
    try:
        shots = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {value!r}"
        ) from None
    if not shots or min(shots) < 1:
        raise argparse.ArgumentTypeError(f"shot counts must be positive integers, got {value!r}")
    return shots


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=NAMES, help="which experiment")
    add_pair_arguments(parser)
    parser.add_argument("--output", dest="out", metavar="DIR", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--n", type=_positive, default=100, help="prompts per set (questions for many-shot)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--batch-size", type=_positive, default=BATCH_SIZE, help="prompts per forward pass")
    parser.add_argument(
        "--data-dir", default=None, help="local data folder (default: $TUCO_DATA_DIR, else the Hub)"
    )
    parser.add_argument(
        "--translations",
        type=Path,
        help="languages: JSONL with id, language, text (default: none; the languages experiment "
        "requires it)",
    )
    parser.add_argument(
        "--gcg",
        type=Path,
        help="gcg: JSONL with id, goal, suffix (default: none; the gcg experiment requires it)",
    )
    parser.add_argument(
        "--shots",
        type=_shots,
        default=None,
        help="many-shot: shot counts, e.g. 1,2,4,8 (default: 1,2,...,128)",
    )
    parser.add_argument(
        "--personas",
        default=None,
        help="many-shot: comma-separated persona datasets for the shots "
        "(default: psychopathy,ends-justify-means,narcissism)",
    )
    parser.add_argument(
        "--apply-chat-template", dest="chat_template", action=argparse.BooleanOptionalAction, default=True,
        help="wrap chat and jailbreak prompts in the fine-tuned chat template, as the paper does "
        "(lm-eval's flag; --no-apply-chat-template scores them as raw text)",
    )
    parser.add_argument(
        "--no-chat-template", dest="old_no_chat_template", action="store_true",
        help="deprecated: use --no-apply-chat-template",
    )
    parser.add_argument(
        "--jailbreak",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="sample completions and report the AUC of TuCo for jailbreak success "
        "(default: on for languages and gcg, off for many-shot, unavailable for web-vs-chat)",
    )
    parser.add_argument(
        "--samples", type=_positive, default=8, help="jailbreak: completions per prompt"
    )
    parser.add_argument(
        "--max-new-tokens", type=_positive, default=30, help="jailbreak: tokens per completion"
    )
    parser.add_argument(
        "--refusal-strings",
        type=Path,
        help="jailbreak: file of refusal strings, one per line (default: the built-in list in "
        "docs/experiments.md)",
    )


def check(args: argparse.Namespace) -> None:
    """The pair (--model-args, or the deprecated flags) and the input file an experiment cannot
    run without (tuco_eval.cli calls this after parsing)."""
    from tuco_eval.commands.pair_options import resolve_pair_args, say_deprecated
    from tuco_eval.util.errors import TucoError

    resolve_pair_args(args, "experiment")
    if args.old_no_chat_template:
        say_deprecated("experiment", "--no-chat-template is", "--no-apply-chat-template")
        args.chat_template = False

    if args.name == "languages" and args.translations is None:
        raise TucoError(
            "the languages experiment needs --translations FILE (JSONL: id, language, text)"
        )
    if args.name == "gcg" and args.gcg is None:
        raise TucoError("the gcg experiment needs --gcg FILE (JSONL: id, goal, suffix)")


def run(args: argparse.Namespace) -> int:
    from tuco_eval.experiments.jailbreak import REFUSAL_STRINGS, read_refusal_strings
    from tuco_eval.experiments.prompts import read_gcg, read_translations
    from tuco_eval.experiments.run import JailbreakOptions, run_experiment, wants_jailbreak
    from tuco_eval.util.files import ensure_writable_dir

    # every user file is read before the models load: a typo fails in a second, not minutes
    judge = wants_jailbreak(args.name, args.jailbreak)
    inputs = {
        "translations": read_translations(args.translations) if args.translations else None,
        "gcg": read_gcg(args.gcg) if args.gcg else None,
        "data_dir": args.data_dir,
        "chat_template": args.chat_template,
    }
    if args.shots:
        inputs["shots"] = args.shots
    if args.personas:
        inputs["personas"] = [p.strip() for p in args.personas.split(",") if p.strip()]
    refusals = (
        read_refusal_strings(args.refusal_strings) if args.refusal_strings else REFUSAL_STRINGS
    )
    ensure_writable_dir(args.out, "--output")
    pair = load_pair_from(args)
    summary = run_experiment(
        args.name,
        pair,
        args.out,
        n=args.n,
        seed=args.seed,
        batch_size=args.batch_size,
        jailbreak=judge,
        jailbreak_options=JailbreakOptions(args.samples, args.max_new_tokens, refusals),
        labels={"finetuned": args.finetuned, "base": args.base},
        **inputs,
    )
    for entry in summary["auc"] + summary.get("jailbreak_auc", []):
        value = "undefined" if entry["auc"] is None else f"{entry['auc']:.3f}"
        print(f"AUC {entry['metric']}: {entry['positive']} vs {entry['negative']} = {value}")
    print(f"wrote {args.out / 'tuco.jsonl'}, summary.json, summary.md and plots")
    return 0

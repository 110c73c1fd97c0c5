"""`tuco-eval sweep`: lm-eval over an α grid with the pair loaded once; per-doc results on disk."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tuco_eval.commands.pair_options import BATCH_SIZE, add_device_argument, resolve_device

HELP = "Evaluate lm-eval tasks at every α of a grid (pair loaded once); resumable per (α, task)."


def batch_size(text: str) -> str:
    """A positive count, or lm-eval's `auto` / `auto:N` (passed through as text)."""
    if text == "auto" or text.startswith("auto:") or (text.isdigit() and int(text) >= 1):
        return text
    raise argparse.ArgumentTypeError(f"expected a positive integer or auto, got {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-args",
        required=True,
        help="tuco_scaled model_args: pretrained=FT,base=PT[,revision=R,base_revision=R,dtype=...,"
        "log_tuco=true,...]",
    )
    parser.add_argument(
        "--tasks", required=True, help="comma-separated lm-eval task or group names"
    )
    parser.add_argument(
        "--output", required=True, type=Path, help="RUN_DIR for run.json and the samples"
    )
    parser.add_argument("--alphas", default="0.75,0.9,0.95,1.0,1.05,1.1,1.25", help="the α grid")
    parser.add_argument(
        "--num-fewshot", type=int, default=None, help="few-shot examples (default: the task's own)"
    )
    parser.add_argument(
        "--batch-size",
        type=batch_size,
        default=str(BATCH_SIZE),
        help="prompts per forward pass, or auto (lm-eval picks the largest that fits)",
    )
    add_device_argument(parser)
    parser.add_argument(
        "--limit",
        type=float,
        default=None,
        help="docs per task: a count, or a fraction when below 1 (for quick checks)",
    )
    parser.add_argument(
        "--include-path",
        action="append",
        default=[],
        help="extra folder of lm-eval task YAML (repeatable); tuco-eval's own tasks are always included",
    )
    parser.add_argument(
        "--metadata",
        default=None,
        help='JSON passed to the tasks, e.g. \'{"data_dir": "data"}\' (like lm-eval --metadata)',
    )
    parser.add_argument(
        "--apply-chat-template", action="store_true", help="wrap prompts in the chat template"
    )
    parser.add_argument(
        "--fewshot-as-multiturn", action="store_true", help="few-shot examples as chat turns"
    )
    parser.add_argument(
        "--system-instruction", default=None, help="system prompt for every request"
    )
    parser.add_argument(
        "--log-tuco", action="store_true", help="store each doc's TuCo beside its scores"
    )
    parser.add_argument(
        "--log-kl",
        action="store_true",
        help="store each doc's KL(p_FT || p_PT) and token-shift class at the last prompt token "
        "(one fine-tuned and one base pass per prompt)",
    )
    parser.add_argument(
        "--modes",
        default=None,
        help="comma-separated scaling modes among activation, logits, weights (pair loaded once); "
        "each non-default mode goes to RUN_DIR/mode=<mode>/ (default: model_args mode, activation)",
    )


def _task_manager(names: list[str], include_path: list[str], metadata: dict | None):
    """Index lm-eval's ~15k built-in tasks (seconds) only when a name needs one of them."""
    from lm_eval.tasks import TaskManager

    own = TaskManager(include_path=include_path, include_defaults=False, metadata=metadata)
    if set(names) <= set(own.all_tasks):
        return own
    return TaskManager(include_path=include_path, metadata=metadata)


def run(args: argparse.Namespace) -> int:
    from lm_eval.utils import simple_parse_args_string

    from tuco_eval.data import tasks_dir
    from tuco_eval.errors import TucoError
    from tuco_eval.jsonl import ensure_writable_dir
    from tuco_eval.lm import TucoScaledLM
    from tuco_eval.modes.sweep import sweep_modes
    from tuco_eval.params import parse_alphas, parse_modes
    from tuco_eval.sweep import check_task_names

    alphas = parse_alphas(args.alphas)  # every cheap check before the models load
    modes = parse_modes(args.modes) if args.modes else None
    limit = None if args.limit is None else (int(args.limit) if args.limit >= 1 else args.limit)
    try:
        metadata = json.loads(args.metadata) if args.metadata else None
    except json.JSONDecodeError as err:
        raise TucoError(f"--metadata is not valid JSON ({err.msg})") from None
    task_names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not task_names:
        raise TucoError("--tasks names no task")
    model_args = simple_parse_args_string(args.model_args)
    if "pretrained" not in model_args or "base" not in model_args:
        raise TucoError("--model-args needs pretrained=<fine-tuned> and base=<pre-trained>")
    ensure_writable_dir(args.output, "--output")
    task_manager = _task_manager(task_names, [str(tasks_dir()), *args.include_path], metadata)
    check_task_names(task_names, task_manager)  # before the models load; tasks are built once, in sweep()
    lm = TucoScaledLM.create_from_arg_string(
        args.model_args, {"batch_size": args.batch_size, "device": resolve_device(args.device)}
    )
    if args.log_tuco:
        lm.log_tuco = True
    if args.log_kl:
        lm.log_kl = True
    sweep_modes(
        lm,
        task_names,
        args.output,
        modes=modes or [lm.mode],
        alphas=alphas,
        task_manager=task_manager,
        model_args=args.model_args,
        num_fewshot=args.num_fewshot,
        limit=limit,
        apply_chat_template=args.apply_chat_template,
        fewshot_as_multiturn=args.fewshot_as_multiturn,
        system_instruction=args.system_instruction,
    )
    print(
        f"sweep complete: {len(modes or [lm.mode])} mode(s) x {len(alphas)} α x "
        f"{len(task_names)} task name(s) in {args.output}; "
        f"next: tuco-eval cv {args.output}"
    )
    return 0

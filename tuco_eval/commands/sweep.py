"""`tuco-eval sweep`: lm-eval over an α grid with the pair loaded once; per-doc results on disk.

With `--finetuned A,B,C` (or a glob) a checkpoint series against one base into a ROOT
(tuco_eval.sweeps.series): the base loaded once, ROOT/checkpoints.json, ROOT/base, a RUN_DIR each."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuco_eval.commands.pair_options import (
    BATCH_SIZE,
    add_device_argument,
    add_verbosity_argument,
    resolve_device,
)

if TYPE_CHECKING:
    from tuco_eval.sweeps.settings import EvalSettings, Grid, ModelOptions

HELP = (
    "Evaluate lm-eval tasks at every α of a grid (pair loaded once), for one fine-tuned model or "
    "a series of checkpoints against one base; resumable per (checkpoint, α, task)."
)


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
        "log_tuco=true,...]; with --finetuned: base=PT[,dtype=...] (no pretrained=)",
    )
    parser.add_argument(
        "--finetuned",
        nargs="+",
        default=None,
        help="a checkpoint series against base=PT: folders (full models or PEFT adapters), Hub ids "
        "(ID@REVISION for a revision), globs such as 'runs/sft/checkpoint-*' (ordered by step); "
        "comma- or space-separated. --output is then a ROOT with a RUN_DIR per checkpoint",
    )
    parser.add_argument(
        "--labels",
        default=None,
        help="with --finetuned: comma-separated labels, one per checkpoint in training order "
        "(default: step-<n> for checkpoint-<n>, else the folder or Hub name)",
    )
    parser.add_argument(
        "--checkpoint-index",
        type=int,
        default=None,
        help="with --finetuned: run only this checkpoint of the series (0-based, training order; "
        "e.g. $SLURM_ARRAY_TASK_ID); checkpoints.json records them all",
    )
    parser.add_argument(
        "--output",
        required=True,
        type=Path,
        help="RUN_DIR for run.json and the samples (with --finetuned: the ROOT of the series)",
    )
    add_evaluation_arguments(parser)
    add_publish_arguments(parser)
    add_verbosity_argument(parser)


def add_publish_arguments(parser: argparse.ArgumentParser) -> None:
    """lm-eval's logging flags, applied to each α run once the sweep is done."""
    for flag, text in (
        ("--wandb-args", "Weights & Biases init arguments, e.g. project=my-evals: one W&B run per α, "
                         "logged as lm_eval logs a run (needs wandb)"),
        ("--wandb-config-args", "Weights & Biases config arguments added to every α's run"),
        ("--trackio-args", "Trackio init arguments, e.g. project=my-evals: one Trackio run per α (needs trackio)"),
        ("--hf-hub-log-args", "push each α's results (push_results_to_hub=True) and samples "
                              "(push_samples_to_hub=True, with --log-samples) to Hub datasets, with "
                              "lm-eval's keys hub_results_org, details_repo_name, results_repo_name, "
                              "public_repo, token (else $HF_TOKEN)"),
    ):
        parser.add_argument(flag, nargs="+", default=None, metavar="KEY=VALUE", help=text)


def publish_settings(args: argparse.Namespace):
    """The sweep's logging flags as a checked `sweeps.publish.Publish`."""
    from tuco_eval.sweeps.publish import Publish
    from tuco_eval.util.params import parse_key_values

    publish = Publish(**{
        name: parse_key_values(getattr(args, flag) or [], f"--{flag}")
        for name, flag in (("wandb_args", "wandb_args"), ("wandb_config_args", "wandb_config_args"),
                           ("trackio_args", "trackio_args"), ("hub_args", "hf_hub_log_args"))
    })
    publish.check(args.log_samples)
    return publish


def add_evaluation_arguments(parser: argparse.ArgumentParser) -> None:
    """What every command that sweeps shares: tasks, α grid, prompts, batches, what is logged."""
    parser.add_argument(
        "--tasks", required=True, help="comma-separated lm-eval task or group names"
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
        "--gen-kwargs", default=None, metavar="KEY=VALUE,...",
        help="lm-eval's generation arguments for generate_until tasks, e.g. temperature=0,max_gen_toks=64",
    )
    parser.add_argument(
        "--seed", type=_seed, default=None, metavar="N|A,B,C,D",
        help="lm-eval's seeds (python, numpy, torch, few-shot sampling): one integer for all four or "
        "four values, None leaving one unset (default: lm-eval's 0,1234,1234,1234)",
    )
    parser.add_argument(
        "--max-batch-size", type=int, default=None, metavar="N",
        help="with --batch-size auto: the largest batch lm-eval tries (default: lm-eval's 64)",
    )
    parser.add_argument(
        "--trust-remote-code", action="store_true",
        help="let transformers run model code from the Hub (adds trust_remote_code=True to --model-args)",
    )
    parser.add_argument(
        "--log-samples", action="store_true",
        help="also write lm-eval's samples_<task>_*.jsonl into each α's lm-eval folder "
        "(RUN_DIR/lm_eval/alpha=<α>/; the store keeps every doc's record either way)",
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
    tuco = parser.add_mutually_exclusive_group()
    tuco.add_argument(
        "--log-tuco",
        action="store_true",
        help="store each doc's TuCo at every α (by default: at α = 1 only)",
    )
    tuco.add_argument(
        "--no-log-tuco",
        action="store_true",
        help="store no TuCo (by default each doc's TuCo at α = 1 is stored: one joint pass at α = 1)",
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


def _seed(text: str) -> tuple[int | None, ...]:
    from tuco_eval.util.errors import TucoError
    from tuco_eval.util.params import parse_seed

    try:
        return parse_seed(text)
    except TucoError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def with_remote_code(model_args: str, trust: bool) -> str:
    """`--trust-remote-code` as lm-eval does it: `trust_remote_code=True` in the model_args."""
    if not trust or "trust_remote_code=" in model_args:
        return model_args
    return f"{model_args},trust_remote_code=True" if model_args else "trust_remote_code=True"


@dataclass(frozen=True)
class Settings:
    """What `add_evaluation_arguments` parsed, checked before any model loads."""

    task_names: list[str]
    grid: Grid  # --alphas, --modes, --no-log-tuco
    limit: int | float | None
    metadata: dict | None
    include_path: list[str]
    num_fewshot: int | None
    apply_chat_template: bool
    fewshot_as_multiturn: bool
    system_instruction: str | None
    gen_kwargs: str | None = None
    seed: tuple[int | None, ...] | None = None
    log_samples: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        from tuco_eval.sweeps.settings import Grid
        from tuco_eval.util.errors import TucoError
        from tuco_eval.util.params import parse_alphas, parse_modes

        limit = None if args.limit is None else (int(args.limit) if args.limit >= 1 else args.limit)
        try:
            metadata = json.loads(args.metadata) if args.metadata else None
        except json.JSONDecodeError as err:
            raise TucoError(f"--metadata is not valid JSON ({err.msg})") from None
        task_names = [t.strip() for t in args.tasks.split(",") if t.strip()]
        if not task_names:
            raise TucoError("--tasks names no task")
        grid = Grid(parse_alphas(args.alphas), parse_modes(args.modes) if args.modes else None,
                    tuco_at_alpha_one=not args.no_log_tuco)
        return cls(task_names, grid, limit, metadata, list(args.include_path), args.num_fewshot,
                   args.apply_chat_template, args.fewshot_as_multiturn, args.system_instruction,
                   args.gen_kwargs, args.seed, args.log_samples)

    def evaluation(self) -> EvalSettings:
        """lm-eval's settings for every sweep function, the task index built here (seconds)."""
        from tuco_eval.sweeps.settings import EvalSettings, task_manager_for

        return EvalSettings(
            task_manager_for(self.task_names, self.include_path, self.metadata),
            num_fewshot=self.num_fewshot, limit=self.limit, apply_chat_template=self.apply_chat_template,
            fewshot_as_multiturn=self.fewshot_as_multiturn, system_instruction=self.system_instruction,
            gen_kwargs=self.gen_kwargs, seed=self.seed, log_samples=self.log_samples,
        )


def model_options(args: argparse.Namespace) -> ModelOptions:
    """What the model flags give every model a sweep builds (`sweep` and `watch` alike)."""
    from tuco_eval.sweeps.settings import ModelOptions

    return ModelOptions(batch_size=args.batch_size, max_batch_size=args.max_batch_size,
                        device=resolve_device(args.device), log_tuco=args.log_tuco, log_kl=args.log_kl)


def run(args: argparse.Namespace) -> int:
    from lm_eval.utils import simple_parse_args_string

    from tuco_eval.util.errors import TucoError
    from tuco_eval.util.files import ensure_writable_dir

    args.model_args = with_remote_code(args.model_args, args.trust_remote_code)
    settings = Settings.from_args(args)  # every cheap check before the models load
    publish = publish_settings(args)
    if args.finetuned is None:
        for flag, value in (("--labels", args.labels), ("--checkpoint-index", args.checkpoint_index)):
            if value is not None:
                raise TucoError(f"{flag} goes with --finetuned (a checkpoint series)")
        model_args = simple_parse_args_string(args.model_args)
        if "pretrained" not in model_args or "base" not in model_args:
            raise TucoError("--model-args needs pretrained=<fine-tuned> and base=<pre-trained>")
    else:
        from tuco_eval.sweeps.series import parse_series_args

        parse_series_args(args.model_args)  # no pretrained=, a base=: before anything is indexed
    ensure_writable_dir(args.output, "--output")
    evaluation = settings.evaluation()
    if args.finetuned is not None:
        return _run_series(args, settings, evaluation, publish)
    from tuco_eval.harness.tuco_scaled import TucoScaledLM
    from tuco_eval.sweeps.alphas import check_task_names
    from tuco_eval.sweeps.modes import sweep_modes

    task_names, grid = settings.task_names, settings.grid
    check_task_names(task_names, evaluation.task_manager)  # before the models load; tasks built once
    options = model_options(args)
    lm = TucoScaledLM.create_from_arg_string(args.model_args, options.lm_eval_kwargs())
    if options.log_tuco:
        lm.log_tuco = True
    if not grid.tuco_at_alpha_one:  # --no-log-tuco
        lm.log_tuco = False
    if options.log_kl:
        lm.log_kl = True
    sweep_modes(lm, task_names, args.output, settings=evaluation, grid=grid, model_args=args.model_args)
    print(
        f"sweep complete: {len(grid.modes or [lm.mode])} mode(s) x {len(grid.alphas)} α x "
        f"{len(task_names)} task name(s) in {args.output}; "
        f"next: tuco-eval cv {args.output}"
    )
    if publish:
        from tuco_eval.sweeps.publish import publish_alpha_runs

        publish_alpha_runs([args.output], publish)
    return 0


def _run_series(args: argparse.Namespace, settings: Settings, evaluation: EvalSettings, publish) -> int:
    from tuco_eval.sweeps.series import sweep_checkpoints

    specs = [part for item in args.finetuned for part in item.split(",") if part.strip()]
    labels = None if args.labels is None else args.labels.split(",")
    done = sweep_checkpoints(specs, settings.task_names, args.output, model_args=args.model_args,
                             settings=evaluation, grid=settings.grid, model_options=model_options(args),
                             labels=labels, checkpoint_index=args.checkpoint_index)
    print(
        f"sweep complete: the base and {len(done['swept'])} checkpoint(s) ({', '.join(done['swept'])}) "
        f"x {len(settings.grid.alphas)} α x {len(settings.task_names)} task name(s) in {args.output} "
        f"({len(done['series'].checkpoints)} recorded in checkpoints.json); "
        f"next: tuco-eval report {args.output}"
    )
    if publish:
        from tuco_eval.sweeps.publish import publish_alpha_runs

        entries = [done["series"].base, *done["series"].checkpoints]
        swept = [args.output / e.run_dir for e in entries
                 if e.label in done["swept"] or (args.checkpoint_index is None and e.label == "base")]
        publish_alpha_runs(swept, publish)
    return 0

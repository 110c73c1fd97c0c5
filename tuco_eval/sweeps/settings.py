"""What a sweep is told, given once by the caller and passed down instead of rebuilt at each level.

`EvalSettings`: what lm-eval needs to build, score and log each (α, task) unit's prompts (the task
index, few-shot, limit, chat template, system prompt, generation arguments, seeds, samples).
`Grid`: where the sweep evaluates (the α values, the scaling modes) and whether TuCo is stored at
α = 1. `ModelOptions`: what a series gives every model it builds beside its model_args.
`task_manager_for`: lm-eval's task index for the named tasks. Importable without torch or lm-eval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import PAPER_ALPHAS

SEED_ARGS = ("random_seed", "numpy_random_seed", "torch_random_seed", "fewshot_random_seed")


@dataclass(frozen=True)
class EvalSettings:
    """lm-eval's settings for every unit of a sweep: one object, so every level evaluates alike."""

    task_manager: Any  # lm-eval's TaskManager (task_manager_for builds one)
    num_fewshot: int | None = None
    limit: int | float | None = None
    apply_chat_template: bool | str = False
    fewshot_as_multiturn: bool = False
    system_instruction: str | None = None
    gen_kwargs: str | None = None  # lm-eval's --gen_kwargs text, e.g. "temperature=0,max_gen_toks=64"
    seed: Sequence[int | None] | None = None  # python, numpy, torch, few-shot (lm-eval's --seed)
    log_samples: bool = False  # lm-eval's samples files beside each α's results, too

    def __post_init__(self) -> None:
        if self.seed is not None and len(self.seed) != len(SEED_ARGS):
            raise TucoError(
                f"seed takes {len(SEED_ARGS)} values (python, numpy, torch, few-shot), got {len(self.seed)}"
            )

    def evaluate_kwargs(self) -> dict[str, Any]:
        """simple_evaluate's prompt and decoding settings, as run.json records them: lm-eval's
        `gen_kwargs` and seeds only where given, so that stores swept without them read as before."""
        kwargs: dict[str, Any] = dict(
            num_fewshot=self.num_fewshot, limit=self.limit, apply_chat_template=self.apply_chat_template,
            fewshot_as_multiturn=self.fewshot_as_multiturn, system_instruction=self.system_instruction,
        )
        if self.gen_kwargs:
            kwargs["gen_kwargs"] = self.gen_kwargs
        if self.seed is not None:
            kwargs.update(zip(SEED_ARGS, self.seed, strict=True))
        return kwargs


@dataclass(frozen=True)
class Grid:
    """Where a sweep evaluates, apart from how each prompt is built (EvalSettings)."""

    alphas: Sequence[float] = PAPER_ALPHAS
    modes: Sequence[str] | None = None  # None: the model's own mode (model_args mode=, else activation)
    tuco_at_alpha_one: bool = True  # each doc's TuCo stored at α = 1 (one joint pass there)


@dataclass(frozen=True)
class ModelOptions:
    """What a series builds every model with beside its model_args (the sweep command's flags)."""

    batch_size: int | str = 8  # a count, or lm-eval's auto / auto:N
    max_batch_size: int | None = None
    device: str = "cpu"
    log_tuco: bool = False  # TuCo at every α, not only at α = 1
    log_kl: bool = False

    def lm_eval_kwargs(self) -> dict[str, Any]:
        """lm-eval's `additional_config` of each model: batch size and device."""
        return {"batch_size": self.batch_size, "device": self.device,
                **({"max_batch_size": self.max_batch_size} if self.max_batch_size else {})}


def task_manager_for(
    names: Sequence[str], include_path: Sequence[str] = (), metadata: dict | None = None
) -> Any:
    """lm-eval's TaskManager over tuco-eval's tasks and `include_path`; lm-eval's ~15k built-in
    tasks are indexed (seconds) only when a name needs one of them."""
    from lm_eval.tasks import TaskManager

    from tuco_eval.harness.task_data import tasks_dir

    paths = [str(tasks_dir()), *map(str, include_path)]
    own = TaskManager(include_path=paths, include_defaults=False, metadata=metadata)
    if set(names) <= set(own.all_tasks):
        return own
    return TaskManager(include_path=paths, metadata=metadata)

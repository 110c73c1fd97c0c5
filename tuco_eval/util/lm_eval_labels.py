"""The row label of an lm-eval run, from the `--model_args` it recorded (pure string functions).

The model evaluated is `peft=` when an adapter was given (the checkpoint is the adapter), else
`pretrained=` (`hf`, `vllm`, `tuco_scaled`), else `model=` (API models); its label follows the
series' rules (tuco_eval.util.checkpoint_labels): `step-N` for a `checkpoint-N` / `step-N` name,
else the last part of the path or Hub id, with `@revision` from `revision=`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuco_eval.util.checkpoint_labels import auto_label, step_of

MODEL_KEYS = ("peft", "pretrained", "model")  # where the evaluated model is named, most specific first


@dataclass(frozen=True)
class RunName:
    label: str
    source: str | None  # the model as named in model_args, `@revision` appended when given
    step: int | None


def model_args_value(model_args: str, key: str) -> str | None:
    """The value of `key=` in lm-eval's `key=value,...` model_args, or None."""
    for part in model_args.split(","):
        name, _, value = part.partition("=")
        if name.strip() == key and value.strip():
            return value.strip()
    return None


def lm_eval_run_name(model_args: str, fallback: str) -> RunName:
    """Label, source and step of a run from its model_args; `fallback` (its folder's name) when
    they name no model."""
    model = next((v for k in MODEL_KEYS if (v := model_args_value(model_args, k))), None)
    if model is None:
        return RunName(fallback, None, None)
    revision = model_args_value(model_args, "revision")
    source = f"{model}@{revision}" if revision else model
    return RunName(auto_label(model, revision), source, step_of(model, revision))

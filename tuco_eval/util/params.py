"""The values users type: α, α grids, and model_args flags (no torch: every layer may use them)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tuco_eval.util.errors import TucoError, warn

PAPER_ALPHAS = (0.75, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25)  # the paper's α grid
MODES = ("activation", "logits", "weights")  # the three ways to scale fine-tuning (docs/modes.md)
DEFAULT_MODE = "activation"  # the paper's
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "none", "")


def parse_alpha(value: Any) -> float:
    """α as a finite float; lm-eval hands `alpha=1` over as an int and `alpha=x` as a string."""
    if isinstance(value, bool):
        raise TucoError(f"alpha must be a number, got {value!r}")
    try:
        alpha = float(value)
    except (TypeError, ValueError):
        raise TucoError(f"alpha must be a number such as 1.1, got {value!r}") from None
    if not math.isfinite(alpha):
        raise TucoError(f"alpha must be finite, got {value!r}")
    return alpha


def warn_if_negative(alpha: float) -> None:
    """One warning line for α < 0, which reverses the fine-tuning direction."""
    if alpha < 0:
        warn(f"α={alpha} < 0 reverses the fine-tuning direction (allowed, but rarely meant)")


def format_alpha(alpha: float) -> str:
    """The directory spelling of an alpha: ``repr(float(alpha))`` (0.9 -> "0.9", 1 -> "1.0")."""
    value = float(alpha)
    if not math.isfinite(value):
        raise TucoError(f"alpha must be a finite number, got {alpha!r}")
    return repr(value)


def parse_alphas(values: str | Sequence[Any]) -> list[float]:
    """A non-empty grid of distinct finite α values, in the given order."""
    items = [v for v in values.split(",")] if isinstance(values, str) else list(values)
    items = [v.strip() if isinstance(v, str) else v for v in items]
    if not items or any(v == "" for v in items):
        raise TucoError(f"the α grid must be a comma-separated list of numbers, got {values!r}")
    alphas = [parse_alpha(v) for v in items]
    for alpha in alphas:
        warn_if_negative(alpha)
    duplicates = sorted({format_alpha(a) for a in alphas if alphas.count(a) > 1})
    if duplicates:
        raise TucoError(f"the α grid repeats {', '.join(duplicates)}: give each value once")
    return alphas


def parse_flag(value: Any, name: str) -> bool:
    """A model_args flag: a bool, or a word lm-eval hands over as a string (true/false, 1/0, yes/no)."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise TucoError(f"{name} must be true or false, got {value!r}")


def parse_mode(value: Any) -> str:
    """One of MODES (case-insensitive), or a TucoError listing them."""
    mode = str(value).strip().lower()
    if mode not in MODES:
        raise TucoError(f"mode must be one of {', '.join(MODES)}; got {value!r}")
    return mode


def parse_modes(value: str) -> list[str]:
    """A comma-separated list of distinct modes, in the given order."""
    modes = [parse_mode(v) for v in value.split(",") if v.strip()]
    if not modes:
        raise TucoError(f"--modes names no mode; use some of {', '.join(MODES)}")
    if len(set(modes)) != len(modes):
        raise TucoError(f"--modes repeats a mode: {value!r}")
    return modes


LM_EVAL_SEED = (0, 1234, 1234, 1234)  # lm-eval's defaults: python, numpy, torch, few-shot sampling


def parse_seed(text: str) -> tuple[int | None, ...]:
    """lm-eval's `--seed`: one integer for all four seeds, or four comma-separated values
    (python, numpy, torch, few-shot), `None` leaving that one unset."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [None if p == "None" else int(p) for p in parts]
    except ValueError:
        raise TucoError(f"--seed takes an integer or four comma-separated ones (e.g. 0,1234,1234,1234), "
                        f"got {text!r}") from None
    if len(values) == 1:
        return tuple(values * 4)
    if len(values) != 4:
        raise TucoError(f"--seed takes one value or four (python, numpy, torch, few-shot), got {len(values)}")
    return tuple(values)


def parse_key_values(values: Sequence[str], flag: str) -> dict[str, str]:
    """lm-eval's dict flags (`--wandb_args`, `--hf_hub_log_args`, ...): `key=val key2=val2`, or
    `key=val,key2=val2` (lm-eval's older form), as a dict."""
    parsed: dict[str, str] = {}
    for piece in (p.strip() for value in values for p in value.split(",") if p.strip()):
        key, equals, value = piece.partition("=")
        if not equals or not key.strip():
            raise TucoError(f"{flag}: expected key=value (e.g. project=my-evals), got {piece!r}")
        parsed[key.strip()] = value.strip()
    return parsed

"""The transformers APIs that moved within the supported releases (pyproject's floor to the newest).

Each is found on the model itself, never assumed from a version number and never guessed:
- the cache keyword: `cache=` from transformers 5.24, `past_key_values=` before. Older forwards
  take `**kwargs` and drop an unknown `cache=` without a word, so the keyword is read from the
  forward's own signature; a forward that names neither is refused.
- the cache in the output: the output's field `cache`, or `past_key_values` before.
- `logits_to_keep` as one row of positions per sample (2-D): only forwards that slice through
  transformers' `slice_logits_to_keep` (5.21 on) take it; an older forward indexes every row
  with every row's positions. Where it is not taken, callers project every position and pick
  theirs (the same numbers, more work).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any

from torch import nn
from transformers.cache_utils import Cache

from tuco_eval.core.layers import takes_logits_to_keep, unwrap
from tuco_eval.util.errors import TucoError

CACHE_NAMES = ("cache", "past_key_values")  # newest first


@functools.cache
def _forward_parameters(model_class: type) -> frozenset[str]:
    return frozenset(inspect.signature(model_class.forward).parameters)


def cache_keyword(model: nn.Module) -> str:
    """The keyword the model's forward takes its cache by."""
    model_class = type(unwrap(model))
    parameters = _forward_parameters(model_class)
    found = next((name for name in CACHE_NAMES if name in parameters), None)
    if found is None:
        raise TucoError(f"{model_class.__name__}.forward takes no cache (neither `cache` nor "
                        f"`past_key_values`): prefix reuse needs one; pass prefix_reuse=False")
    return found


def cache_of(output: Any) -> Cache:
    """The cache a forward with use_cache=True returned, under whichever name its output class has."""
    fields = {field.name for field in dataclasses.fields(output)} if dataclasses.is_dataclass(output) else set()
    name = next((name for name in CACHE_NAMES if name in fields), None)
    cache = getattr(output, name) if name is not None else None
    if not isinstance(cache, Cache):
        raise TucoError(f"{type(output).__name__} returned no cache (fields: {sorted(fields)}); "
                        f"prefix reuse needs one: pass prefix_reuse=False")
    return cache


@functools.cache
def _slices_per_row(model_class: type) -> bool:
    try:
        source = inspect.getsource(model_class.forward)
    except (OSError, TypeError):  # no source to read: assume the older, shared slicing
        return False
    return "slice_logits_to_keep" in source


def takes_logits_per_row(model: nn.Module) -> bool:
    """Whether `logits_to_keep` may be a [batch, positions] tensor of each row's own positions."""
    return takes_logits_to_keep(model) and _slices_per_row(type(unwrap(model)))

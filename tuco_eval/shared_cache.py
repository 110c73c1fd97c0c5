"""The base's KV cache lives inside the fine-tuned model's own `Cache` object.

The first time a new, empty cache of L layers is seen (by block 0, or by the whole model in
logits mode), L fresh empty layers of the same kinds are appended to it. The base runs on a view
of that object whose layers are the appended ones: its layer l is the cache's layer L + l.
Everything `generate` does to the cache (append, beam search's `reorder_cache`, assisted
decoding's `crop`, `batch_select_indices`, `batch_repeat_interleave`, `reset`) iterates over
all 2L layers, so the base's cache cannot fall out of step with the fine-tuned one.

A cache that already holds the base's layers (e.g. a deep copy of a prefilled one) is marked and
continued; any other pre-filled cache is refused, since the base never saw its prefix. Each user
(the joint's base blocks, the logits mode's base model) has its own L layers, found by its key.
The cache is found by type, so `cache=`, `past_key_values=`, `layer_past=` and GPT-2's
positional slot are all covered.
"""

from __future__ import annotations

import copy
from typing import Any

from transformers.cache_utils import Cache, DynamicCache, StaticCache

from tuco_eval.errors import TucoError

MARK = "_tuco_base_layers"  # attribute of a cache holding base layers: {user key: first layer index}
SUPPORTED = (DynamicCache, StaticCache)  # what the tests show exact; other kinds are refused


def find_cache(args: tuple, kwargs: dict) -> Cache | None:
    return next((v for v in (*args, *kwargs.values()) if isinstance(v, Cache)), None)


def base_view(cache: Cache, start: int, layers: int) -> Cache:
    """The same cache object seen from layer `start` on: a shallow copy holding `layers` of its layers."""
    view = copy.copy(cache)
    view.layers = cache.layers[start : start + layers]  # the same layer objects: writes land in `cache`
    return view


class SharedCache:
    """Puts the base's cache layers into each fine-tuned cache; the base runs on a view of them."""

    def __init__(self, layers: int, key: str) -> None:
        self.layers = layers  # L: the fine-tuned model's (and the base's) decoder layers
        self.key = key  # names this user's layers in a cache that may hold another's too
        self.pair: tuple[Cache, Cache] | None = None  # (the shared cache, the base's view of it)

    def track(self, args: tuple, kwargs: dict) -> None:
        """Call before the fine-tuned pass writes: a cache not seen yet gets the base's layers."""
        cache = find_cache(args, kwargs)
        if cache is None or (self.pair is not None and self.pair[0] is cache):
            return
        start = getattr(cache, MARK, {}).get(self.key)
        if start is None:
            start = self._add_base_layers(cache)
        self.pair = (cache, base_view(cache, start, self.layers))

    def _add_base_layers(self, cache: Cache) -> int:
        kind = type(cache).__name__
        if not isinstance(cache, SUPPORTED) or getattr(cache, "offloading", False):
            raise TucoError(
                f"{kind}{' with offloading' if getattr(cache, 'offloading', False) else ''} is not "
                f"supported when the base runs (α ≠ 1 or TuCo logged): use the default dynamic "
                f"cache or cache_implementation='static'"
            )
        if cache.get_seq_length() > 0:
            raise TucoError(
                "a pre-filled past_key_values was passed in; the base keeps its keys and values in "
                "the same cache and must see it from the first step: start from an empty cache"
            )
        if not cache.layers and cache.layer_class_to_replicate is not None:
            cache.layers.extend(cache.layer_class_to_replicate() for _ in range(self.layers))
        marks = getattr(cache, MARK, {})
        start = len(cache.layers)
        if start != self.layers * (1 + len(marks)):
            raise TucoError(
                f"the {kind} has {len(cache.layers)} layers for {self.layers} decoder blocks; "
                f"start from an empty cache built for this model"
            )
        cache.layers.extend([copy.deepcopy(layer) for layer in cache.layers[: self.layers]])  # empty
        setattr(cache, MARK, {**marks, self.key: start})
        return start

    def swap(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """The same call arguments with the base's view in place of the shared cache."""
        if self.pair is None:
            return args, kwargs
        cache, view = self.pair

        def swap(value: Any) -> Any:
            return view if value is cache else value

        return tuple(swap(a) for a in args), {k: swap(v) for k, v in kwargs.items()}

    def reset(self) -> None:
        self.pair = None

"""The base's KV cache lives inside the fine-tuned model's own `Cache` object.

The first time a new, empty cache of L layers is seen (by block 0, or by the whole model in
logits mode), L fresh empty layers are appended to it: of the same kinds as the fine-tuned
model's, or, where the base's config differs above its blocks, built from the base's config
(its own sliding windows and layer types), so each base layer keeps exactly the tokens the base
attends to. The base runs on a view
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
from collections.abc import Callable
from typing import Any

from transformers.cache_utils import Cache, DynamicCache, StaticCache

from tuco_eval.util.errors import TucoError

MARK = "_tuco_base_layers"  # attribute of a cache holding base layers: {user key: first layer index}
SUPPORTED = (DynamicCache, StaticCache)  # what the tests show exact; other kinds are refused
# the base's empty layers for an empty fine-tuned cache; None: copies of the fine-tuned layers
LayerFactory = Callable[[Cache], "list | None"]


def find_cache(args: tuple, kwargs: dict) -> Cache | None:
    return next((v for v in (*args, *kwargs.values()) if isinstance(v, Cache)), None)


def base_view(cache: Cache, start: int, layers: int) -> Cache:
    """The same cache object seen from layer `start` on: a shallow copy holding `layers` of its layers."""
    view = copy.copy(cache)
    view.layers = cache.layers[start : start + layers]  # the same layer objects: writes land in `cache`
    return view


def static_length(cache: StaticCache) -> int | None:
    """The max_cache_len a StaticCache was built with, as its layers tell it; None if they do not."""
    for layer in cache.layers:
        # a sliding layer is min(window, max_cache_len) long; the full length when that is <= its window
        if not getattr(layer, "is_sliding", False) or getattr(layer, "_is_croppable", False):
            return layer.max_cache_len
    return None  # every layer slides and is shorter than the cache


def config_layers(config: Any) -> LayerFactory:
    """Empty layers built from `config`, as transformers builds them for that model: a DynamicCache's
    per layer type and window, a StaticCache's with the fine-tuned cache's max_cache_len."""

    def make(cache: Cache) -> list:
        length = static_length(cache) if isinstance(cache, StaticCache) else None
        if length is not None:
            return StaticCache(config=config, max_cache_len=length).layers
        # dynamic layers keep exactly what each base layer attends to, also where a static
        # cache's length is unknown (exact; that generate is then not compilable)
        return DynamicCache(config=config).layers

    return make


class SharedCache:
    """Puts the base's cache layers into each fine-tuned cache; the base runs on a view of them."""

    def __init__(self, layers: int, key: str, base_layers: LayerFactory | None = None) -> None:
        self.layers = layers  # L: the fine-tuned model's (and the base's) decoder layers
        self.key = key  # names this user's layers in a cache that may hold another's too
        self.base_layers = base_layers  # where the base's config differs: its own empty layers
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
        # a config-less cache keeps every token in every layer: copies of its layers serve the base too
        replicated = not cache.layers and cache.layer_class_to_replicate is not None
        if replicated:
            cache.layers.extend(cache.layer_class_to_replicate() for _ in range(self.layers))
        marks = getattr(cache, MARK, {})
        start = len(cache.layers)
        if start != self.layers * (1 + len(marks)):
            raise TucoError(
                f"the {kind} has {len(cache.layers)} layers for {self.layers} decoder blocks; "
                f"start from an empty cache built for this model"
            )
        own = None if replicated or self.base_layers is None else self.base_layers(cache)
        if own is not None and len(own) != self.layers:
            raise TucoError(f"the base's config gives {len(own)} cache layers for {self.layers} decoder blocks")
        cache.layers.extend(own if own is not None else [copy.deepcopy(layer) for layer in cache.layers[: self.layers]])
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

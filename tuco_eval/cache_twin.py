"""The base's own KV cache beside each fine-tuned cache: base computations never write to FT's.

The fine-tuned model hands its `Cache` object to every block (or to the whole model during
generation). The twin is made empty the first time a cache is seen, before anything is written
to it, and swapped in for the fine-tuned cache wherever the base runs on the same arguments.
The cache is found by type, so `cache=`, `past_key_values=`, `layer_past=` and GPT-2's positional
slot are all covered.
"""

from __future__ import annotations

import copy
from typing import Any

from transformers.cache_utils import Cache

from tuco_eval.errors import TucoError


def find_cache(args: tuple, kwargs: dict) -> Cache | None:
    return next((v for v in (*args, *kwargs.values()) if isinstance(v, Cache)), None)


class CacheTwin:
    """Pairs each new fine-tuned cache with an empty twin for the base."""

    def __init__(self) -> None:
        self.pair: tuple[Cache, Cache] | None = None  # (fine-tuned cache, base cache)

    def track(self, args: tuple, kwargs: dict) -> None:
        """Call before the fine-tuned pass writes: a cache not seen yet gets its empty twin."""
        ft_cache = find_cache(args, kwargs)
        if ft_cache is None or (self.pair is not None and self.pair[0] is ft_cache):
            return
        if ft_cache.get_seq_length() > 0:
            raise TucoError(
                "a pre-filled past_key_values was passed in; the base keeps a KV cache of its own "
                "and must see the cache from the first step: start from an empty cache"
            )
        self.pair = (ft_cache, copy.deepcopy(ft_cache))

    def seed(self, ft_cache: Cache, base_cache: Cache) -> None:
        """Adopt a pre-filled pair (e.g. a shared few-shot prefix computed once)."""
        self.pair = (ft_cache, base_cache)

    def swap(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """The same call arguments with the base's cache in place of the fine-tuned one."""
        if self.pair is None:
            return args, kwargs
        ft_cache, base_cache = self.pair

        def swap(value: Any) -> Any:
            return base_cache if value is ft_cache else value

        return tuple(swap(a) for a in args), {k: swap(v) for k, v in kwargs.items()}

    def reset(self) -> None:
        self.pair = None

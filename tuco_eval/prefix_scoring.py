"""Scoring a prefix group: the shared prefix's KV once (fine-tuned and base caches), then suffixes batched.

The joint pass keeps two caches, the fine-tuned model's and a twin for the base blocks; both are
filled by one pass over the prefix, then copied and expanded for each batch of suffix rows. The
answers are lm-eval's: (sum of continuation log-probs, whether greedy decoding gives it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers.cache_utils import Cache

from tuco_eval.joint import Joint, nonfinite_error
from tuco_eval.prefix import PrefixGroup, suffix_row

Answer = tuple[float, bool]


def _expanded(cache: Cache | None, repeats: int) -> Cache | None:
    # a fresh copy per batch: the suffix pass appends to the cache it is given
    if cache is None:
        return None
    out = copy.deepcopy(cache)
    if repeats > 1:
        out.batch_repeat_interleave(repeats)
    return out


def _padded(rows: Sequence[Sequence[int]], device: Any) -> Tensor:
    width = max(len(row) for row in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)  # right padding with 0, as lm-eval pads
    for index, row in enumerate(rows):
        ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
    return ids.to(device)


def _answer(logprobs: Tensor, length: int, continuation: Sequence[int]) -> Answer:
    # the last len(continuation) real positions of the row predict the continuation
    scored = logprobs[length - len(continuation) : length]
    target = torch.tensor(continuation, dtype=torch.long, device=scored.device)
    greedy = bool((scored.argmax(-1) == target).all())
    return float(scored.gather(1, target.unsqueeze(1)).sum()), greedy


class PrefixScorer:
    """One model pass per group prefix, then one per batch of distinct suffix rows."""

    def __init__(
        self,
        model: nn.Module,
        joint: Joint,
        context: Callable[[], AbstractContextManager],
        device: Any,
        batch_size: int,
        softmax_dtype: torch.dtype | None = None,
    ):
        self.model, self.joint, self.context = model, joint, context
        self.device, self.batch_size, self.softmax_dtype = device, max(int(batch_size), 1), softmax_dtype

    def prefill(self, prefix: Sequence[int]) -> tuple[Cache, Cache | None]:
        """(fine-tuned cache, base twin) after the prefix; no twin where the base does not run (α = 1)."""
        ids = torch.tensor([list(prefix)], dtype=torch.long, device=self.device)
        with self.context():
            cache = self.model(ids, use_cache=True).cache
            tracked = self.joint.caches()
        return cache, (tracked[1] if tracked is not None else None)

    def suffix_logits(self, rows: Sequence[Sequence[int]], caches: tuple[Cache, Cache | None]) -> Tensor:
        ft_cache, base_cache = (_expanded(c, len(rows)) for c in caches)
        ids = _padded(rows, self.device)
        with self.context():
            if base_cache is not None:
                self.joint.seed_caches(ft_cache, base_cache)
            logits = self.model(ids, cache=ft_cache, use_cache=True).logits
        if not torch.isfinite(logits).all():
            raise nonfinite_error(self.joint, "logits")
        return logits

    def score(self, group: PrefixGroup, requests: Sequence[tuple[Sequence[int], Sequence[int]]]) -> dict[int, Answer]:
        """Answers of the group's requests, by request index."""
        length = len(group.prefix)
        by_row: dict[tuple[int, ...], list[int]] = {}  # requests sharing a row share its logits
        for index in group.members:
            by_row.setdefault(suffix_row(*requests[index], length), []).append(index)
        caches = self.prefill(group.prefix)
        ordered = sorted(by_row, key=len, reverse=True)
        answers: dict[int, Answer] = {}
        for start in range(0, len(ordered), self.batch_size):
            chunk = ordered[start : start + self.batch_size]
            logprobs = F.log_softmax(self.suffix_logits(chunk, caches), dim=-1, dtype=self.softmax_dtype)
            for row, row_logprobs in zip(chunk, logprobs, strict=True):
                for index in by_row[row]:
                    answers[index] = _answer(row_logprobs, len(row), requests[index][1])
        return answers

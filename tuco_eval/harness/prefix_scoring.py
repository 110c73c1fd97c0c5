"""Scoring log-likelihood requests with the vocabulary projection only where a continuation is scored.

A prefix group: the shared prefix's KV once (both models' layers in one cache), then suffixes batched.
One cache holds both models' keys and values (the base blocks' in extra layers, see
tuco_eval.core.shared_cache); it is filled by one pass over the prefix, then copied and expanded for
each batch of suffix rows (a copy keeps the base's layers and is continued as such). Requests with
no prefix worth sharing (zero-shot tasks) are whole rows, batched without a cache. Either way the
logits are computed at the continuation's positions only: on a short continuation after a long
context the projection onto the vocabulary is otherwise a large part of a pass. The answers are
lm-eval's: (sum of continuation log-probs, whether greedy decoding gives it). With `tuco`, each
request's TuCo at its last context token too: that token is always in the scored row, and every
block's PTC and FTC there are computed by the pass.
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

from tuco_eval.core.batching import pad_batch
from tuco_eval.core.compat import cache_keyword, cache_of, takes_logits_per_row
from tuco_eval.core.joint import Joint, TucoSums
from tuco_eval.core.layers import takes_logits_to_keep
from tuco_eval.harness.prefix import PrefixGroup, suffix_row

Answer = tuple[float, bool]


def _expanded(cache: Cache, repeats: int) -> Cache:
    # a fresh copy per batch: the suffix pass appends to the cache it is given
    out = copy.deepcopy(cache)
    if repeats > 1:
        out.batch_repeat_interleave(repeats)
    return out


def _kept_positions(lengths: Sequence[int], keep: int, device: Any) -> Tensor:
    # per row, its last `keep` real positions (clamped at 0): the only logits scoring needs
    rows = [[max(length - keep + k, 0) for k in range(keep)] for length in lengths]
    return torch.tensor(rows, dtype=torch.long, device=device)


def _answer(kept: Tensor, continuation: Sequence[int]) -> Answer:
    # `kept` ends at the row's last real position; its last len(continuation) predict the continuation
    scored = kept[kept.shape[0] - len(continuation) :]
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
        tuco: bool = False,
    ):
        self.model, self.joint, self.context = model, joint, context
        self.device, self.batch_size, self.softmax_dtype = device, max(int(batch_size), 1), softmax_dtype
        # the vocabulary projection only where scored: most of a pass's cost on short suffixes
        self.slices = takes_logits_per_row(model)
        self.trims_prefill = takes_logits_to_keep(model)
        self.cache_keyword = cache_keyword(model)  # `cache=` or, in older releases, `past_key_values=`
        self.tuco = tuco
        self.found_tuco: dict[int, float] = {}  # with `tuco`: request index -> TuCo, of the last `score`

    def prefill(self, prefix: Sequence[int]) -> Cache:
        """The cache after the prefix (with the base blocks' layers where the base runs)."""
        ids = torch.tensor([list(prefix)], dtype=torch.long, device=self.device)
        # TuCo of the suffixes needs the base's layers in the cache, also at α = 1
        sums = TucoSums(positions=torch.zeros(1, dtype=torch.long)) if self.tuco else None
        with self.context(sums):
            extra = {"logits_to_keep": 1} if self.trims_prefill else {}
            return cache_of(self.model(ids, use_cache=True, **extra))

    def suffix_logits(self, rows: Sequence[Sequence[int]], cache: Cache | None, keep: int,
                      sums: TucoSums | None = None) -> Tensor:
        """[rows, keep, vocab]: logits at each row's last `keep` real positions, the rows continuing
        `cache` (None: whole rows from the start); TuCo sums at every row position into `sums`."""
        ids = pad_batch(rows, 0)[0].to(self.device)  # right padding with 0, as lm-eval pads
        positions = _kept_positions([len(row) for row in rows], keep, self.device)
        extra = {"logits_to_keep": positions} if self.slices else {}
        if cache is not None:
            extra.update(use_cache=True, **{self.cache_keyword: _expanded(cache, len(rows))})
        else:
            extra["use_cache"] = False
        with self.context(sums):
            logits = self.model(ids, **extra).logits
        if not self.slices:
            logits = logits.gather(1, positions[:, :, None].expand(-1, -1, logits.shape[-1]))
        return logits  # NaN/inf: refused by tuco_scaled's final check on every answer, with its place

    def score(self, group: PrefixGroup, requests: Sequence[tuple[Sequence[int], Sequence[int]]],
              progress: Callable[[int], Any] | None = None) -> dict[int, Answer]:
        """Answers of the group's requests, by request index; `progress(n)` after each n answered."""
        return self._score(group.members, requests, len(group.prefix), self.prefill(group.prefix), progress)

    def score_whole(self, members: Sequence[int], requests: Sequence[tuple[Sequence[int], Sequence[int]]],
                    progress: Callable[[int], Any] | None = None) -> dict[int, Answer]:
        """Answers of requests that share no prefix worth a pass (each must fit the context):
        whole rows, batched longest first, no cache."""
        return self._score(members, requests, 0, None, progress)

    def _score(self, members: Sequence[int], requests: Sequence[tuple[Sequence[int], Sequence[int]]],
               length: int, cache: Cache | None, progress: Callable[[int], Any] | None) -> dict[int, Answer]:
        by_row: dict[tuple[int, ...], list[int]] = {}  # requests sharing a row share its logits
        for index in members:
            by_row.setdefault(suffix_row(*requests[index], length), []).append(index)
        # longest first, ties by token order: HFLM's batches, so zero-shot rows see the same shapes
        ordered = sorted(by_row, key=lambda row: (-len(row), row))
        answers: dict[int, Answer] = {}
        self.found_tuco = {}
        for start in range(0, len(ordered), self.batch_size):
            chunk = ordered[start : start + self.batch_size]
            keep = max(len(requests[i][1]) for row in chunk for i in by_row[row])
            sums = TucoSums() if self.tuco else None
            logits = self.suffix_logits(chunk, cache, keep, sums)
            logprobs = F.log_softmax(logits, dim=-1, dtype=self.softmax_dtype)
            tuco = sums.tuco().float().cpu() if sums is not None else None
            for r, (row, kept) in enumerate(zip(chunk, logprobs, strict=True)):
                for index in by_row[row]:
                    answers[index] = _answer(kept, requests[index][1])
                    if tuco is not None:  # the last context token, in suffix coordinates
                        self.found_tuco[index] = float(tuco[r, len(requests[index][0]) - 1 - length])
            if progress is not None:
                progress(sum(len(by_row[row]) for row in chunk))
        return answers

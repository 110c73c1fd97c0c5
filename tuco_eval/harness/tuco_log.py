"""Per-request bookkeeping of what `tuco_scaled` logs: each request's TuCo and the tokens it was scored on.

lm-eval hands `_model_call` batches of rows without saying which request a row is. With
`log_tuco`, `TucoLog` knows per request the row lm-eval builds for it (its tokens without the
right padding, hashed) and the position of its last context token, keeps the TuCo found there in
any scored batch, and gives each request its value once the call is done; requests scored on the
shared-prefix path report theirs by index. Generation prompts get theirs from one extra prefill
pass (`prompt_tuco`). The tokens of the last log-likelihood requests are kept for `log_kl`;
`log_loglikelihood` and `log_generation` write both measures into the logged requests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from tuco_eval.core.batching import pad_batch
from tuco_eval.core.joint import TucoSums
from tuco_eval.core.tuco import tuco_of_batch
from tuco_eval.harness.request_log import (
    attach,
    context_rows,
    generation_prompt,
    log_measures,
    scored_row,
)

Target = tuple[bytes, int]  # (row key, position of the request's last context token)


def row_key(tokens: Any) -> bytes:
    """Identity of a right-padded input row: its tokens without trailing pad zeros (lm-eval pads with 0)."""
    values = list(tokens)
    while values and values[-1] == 0:
        values.pop()
    return hashlib.blake2b(repr(values).encode(), digest_size=16).digest()


def attach_tuco(requests: Sequence[Any], values: Sequence[float | None], alpha: float) -> None:
    """Each request's TuCo and the α it was scored at, into its logged record."""
    for instance, value in zip(requests, values, strict=True):
        attach(instance, {"tuco": value, "alpha": alpha})


class TucoLog:
    """Which scored row and position carries each log-likelihood request's TuCo, and the values found."""

    def __init__(self) -> None:
        self._wanted: dict[bytes, set[int]] | None = None  # rows whose TuCo a log waits for; None: none does
        self._found: dict[Target, float] = {}  # TuCo at those positions, from the plain path's batches
        self._targets: list[Target] = []  # per request of the current batch, in order
        self.values: list[float | None] = []  # per request of the last recorded `loglikelihood`
        self.encoded: list[tuple[list[int], list[int]]] = []  # the last log-likelihood requests' tokens

    @property
    def recording(self) -> bool:
        """Whether a `loglikelihood` waits for its requests' TuCo."""
        return self._wanted is not None

    @contextmanager
    def record(self, on: bool) -> Iterator[None]:
        """For the block, if `on`, the TuCo of the log-likelihood requests scored goes to `values`."""
        if not on:
            yield
            return
        self._wanted, self._found, self.values = {}, {}, []
        try:
            yield
        finally:
            self._wanted, self._found = None, {}

    def sums(self) -> TucoSums | None:
        """TuCo sums for a scoring pass: every position while recording, else none (no base pass asked)."""
        return TucoSums() if self._wanted is not None else None

    def begin(self, requests: list, max_length: int) -> dict[int, float] | None:
        """A batch of log-likelihood requests: their tokens kept and, while recording, the row and
        position of each one's TuCo awaited; the dict the shared-prefix path fills (None: no TuCo)."""
        self.encoded = [(context, continuation) for _, context, continuation in requests]
        if self._wanted is None:
            return None
        self._targets = []
        for _, context, continuation in requests:  # the row lm-eval builds, and its last context token
            row = scored_row(context, continuation, max_length)
            self._targets.append((row_key(row), max(len(row) - len(continuation), 0)))
        for key, position in self._targets:
            self._wanted.setdefault(key, set()).add(position)
        return {}

    def collect(self, inps: torch.Tensor, tuco: torch.Tensor) -> None:
        """Keep the TuCo at the awaited positions of a scored batch of rows (HFLM's `_model_call`)."""
        rows, values = inps.tolist(), tuco.float().cpu()
        for row, tokens in enumerate(rows):
            key = row_key(tokens)
            for position in self._wanted.get(key, ()):
                self._found[(key, position)] = float(values[row, position])

    def settle(self, shared: dict[int, float] | None) -> None:
        """Each request's TuCo: from the shared-prefix path (`shared`, by index) where it went, else found."""
        if shared is not None:
            self.values = [shared.get(i, self._found.get(t)) for i, t in enumerate(self._targets)]


def log_loglikelihood(lm: Any, requests: list) -> None:
    """Into each logged request: its TuCo (`log_tuco`, found while `lm.tuco_log` recorded) and its KL
    (`log_kl`) at the last token lm-eval conditions on, from the tokens lm-eval encoded for it."""
    if lm.log_tuco:
        attach_tuco(requests, lm.tuco_log.values, lm.alpha)
    if lm.log_kl:
        log_measures(lm, requests, context_rows(lm.tuco_log.encoded, lm.max_length))


def log_generation(lm: Any, requests: list) -> None:
    """Into each logged request: TuCo (one extra prefill pass) and KL at its prompt's last token, the
    prompt as generation saw it (cut to make room for the new tokens)."""
    if not (lm.log_tuco or lm.log_kl):
        return
    prompts = [generation_prompt(lm, r.args[0], r.args[1]) for r in requests]
    if lm.log_tuco:
        attach_tuco(requests, prompt_tuco(lm, prompts), lm.alpha)
    if lm.log_kl:
        log_measures(lm, requests, prompts)


def prompt_tuco(lm: Any, prompts: list[tuple[int, ...]]) -> list[float]:
    """TuCo at each prompt's last token (the tokens generation saw), on the α-scaled pass."""
    unique = sorted(set(prompts), key=len, reverse=True)
    batch = lm.batch_size if isinstance(lm.batch_size, int) and lm.batch_size > 0 else 1
    values: dict[tuple[int, ...], float] = {}
    for start in range(0, len(unique), batch):
        chunk = unique[start : start + batch]
        ids, mask = pad_batch(chunk, lm.tokenizer.pad_token_id or 0, side="left")
        out = tuco_of_batch(lm.joint, ids.to(lm.device), mask.to(lm.device), alpha=lm.scaling.tuco_alpha())
        values.update(zip(chunk, out["tuco"].tolist(), strict=True))
    return [values[p] for p in prompts]

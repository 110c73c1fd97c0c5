"""`tuco_scaled`'s final NaN/inf check on what goes back to lm-eval, and the one-line error naming where.

Every mode at every α: each scoring call (activation mode: the blocks' own flags, no pass over
the vocabulary-sized logits), each log-likelihood before it is handed back, and every `generate`
step's logits (a device flag, read once). Only a failed check runs the failed rows again, in the
current mode and α, with the read-only probes of `tuco_eval.core.nonfinite` to name the place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from tuco_eval.core.joint import NonFiniteError, nonfinite_error
from tuco_eval.core.nonfinite import finite_answer, is_set, nonfinite, where_in
from tuco_eval.core.scaling import Scaling
from tuco_eval.harness.request_log import scored_row

Rerun = Callable[[Tensor, bool], None]  # [1, T] ids once more through HFLM's scoring call; TuCo sums or not


class FiniteCheck:
    """The checks of one `tuco_scaled` model: its scaling (mode, joint, base) and how it reruns a row."""

    def __init__(self, scaling: Scaling, rerun: Rerun) -> None:
        self.scaling, self.rerun = scaling, rerun

    def scored(self, logits: Tensor, inps: Tensor, tuco: bool) -> None:
        """After a scoring call; every log-likelihood is checked again before it goes back (`answers`)."""
        joint = self.scaling.joint
        bad = joint.any_nonfinite() if self.scaling.mode == "activation" else bool(nonfinite(logits))
        if bad:
            raise self.error("logits", [inps], tuco)

    def answers(self, requests: list, results: list, max_length: int, tuco: bool) -> None:
        """The final check on what goes back to lm-eval, every mode and α: each log-likelihood finite."""
        for (_, context, continuation), answer in zip(requests, results, strict=True):
            if not finite_answer(answer):
                row = scored_row(context, continuation, max_length)
                raise self.error("logits", [torch.tensor([row])], tuco)

    def generated(self, flag: list[Tensor], args: tuple, kwargs: dict, tokens: Any) -> None:
        """The final check of a generation (HFLM's `_model_generate` arguments), every mode and α: a
        NonFiniteError if any step's logits (or, activation mode, any block output) held NaN/inf,
        located on the prompts or the output."""
        if not (is_set(flag) or self.scaling.joint.any_nonfinite()):
            return
        context, mask = kwargs.get("context", args[0] if args else None), kwargs.get("attention_mask")
        rows = [row if mask is None else row[mask[i].bool()] for i, row in enumerate(context)]
        if tokens is not None:  # the prompts with what was generated from them
            rows += [torch.cat([row, tokens[i, context.shape[1]:]]) for i, row in enumerate(rows)]
        raise self.error("logits during generation", [row[None] for row in rows])

    def error(self, what: str, rows: Sequence[Tensor], tuco: bool = False) -> NonFiniteError:
        """The one-line error naming α and the first block, final norm or head whose output held
        NaN/inf, found by running `rows` ([1 or B, T] ids) again in the current mode and α."""
        joint = self.scaling.joint
        base = self.scaling.base if self.scaling.mode == "logits" else None
        return nonfinite_error(joint, what, where_in(rows, lambda ids: self.rerun(ids, tuco), joint, base))

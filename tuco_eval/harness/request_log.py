"""What `tuco_scaled` adds to each request's logged sample (lm-eval's `--log_samples` `arg_2`).

TuCo and α (from `lm.py`), and with `log_kl` the next-token measures of `tuco_eval.core.measures` at
the last token lm-eval conditions on.
"""

from __future__ import annotations

from typing import Any

from tuco_eval.core.batching import pad_batch
from tuco_eval.core.measures import next_token_measures, records_of
from tuco_eval.util.errors import warn


def attach(instance: Any, record: dict[str, Any]) -> None:
    """Append `record` to the request's arguments: lm-eval logs it as `arg_2` (--log_samples)."""
    instance.arguments = (*instance.args, record)


def scored_row(context: list[int], continuation: list[int], max_length: int) -> list[int]:
    """The row HFLM scores for a (context, continuation) request: both cut to the last
    max_length + 1 tokens, the last one dropped (its logits would score nothing)."""
    return (context + continuation)[-(max_length + 1) :][:-1]


def warn_truncated(requests: list, max_length: int) -> None:
    """One line saying how many log-likelihood requests HFLM cuts from the left to fit the context."""
    truncated = sum(
        len(context) + len(continuation) > max_length + 1
        for _, context, continuation in requests
    )
    if truncated:
        warn(
            f"{truncated} of {len(requests)} requests are longer than the {max_length}-token context "
            f"and were truncated from the left (as lm-eval does); max_length=N raises the limit"
        )


def context_rows(encoded: list[tuple[list[int], list[int]]], max_length: int) -> list[tuple[int, ...]]:
    """Per (context, continuation) request as lm-eval encoded it: the scored row up to its last
    context token, the tokens lm-eval conditions the continuation on."""
    rows = []
    for context, continuation in encoded:
        row = scored_row(context, continuation, max_length)
        rows.append(tuple(row[: max(len(row) - len(continuation), 0) + 1]))
    return rows


def generation_prompt(lm: Any, context: str, gen_kwargs: dict) -> tuple[int, ...]:
    """The tokens HFLM.generate_until generates from (lm-eval 0.4.13): the prompt encoded as its
    batches are (`tok_batch_encode`), then its last max_length − max_gen_toks tokens."""
    from lm_eval.models.utils import normalize_gen_kwargs

    room = lm.max_length - normalize_gen_kwargs(gen_kwargs, lm.max_gen_toks)["max_gen_toks"]
    ids, _ = lm.tok_batch_encode([context], truncation=lm.truncation)  # one row: no padding
    return tuple(ids[0, -room:].tolist()) if room > 0 else ()


def log_measures(lm: Any, requests: list, rows: list[tuple[int, ...]]) -> None:
    """Add kl / base_rank / shift to each request's logged record (merged with TuCo's); `rows`:
    the tokens each request conditions on (`context_rows`, `generation_prompt`)."""
    unique = sorted(set(rows), key=len, reverse=True)
    batch = lm.batch_size if isinstance(lm.batch_size, int) and lm.batch_size > 0 else 1
    pad_id = lm.tokenizer.pad_token_id or 0
    found: dict[tuple[int, ...], dict[str, Any]] = {}
    with lm.scaling.finetuned():
        for start in range(0, len(unique), batch):
            chunk = unique[start : start + batch]
            ids, mask = pad_batch(chunk, pad_id, side="left")
            out = next_token_measures(
                lm.model, lm.base_model, ids.to(lm.device), mask.to(lm.device)
            )
            found.update(zip(chunk, records_of(out), strict=True))
    for instance, row in zip(requests, rows, strict=True):
        last = instance.arguments[-1]
        if isinstance(last, dict) and "tuco" in last:
            last.update(found[row])
        else:
            attach(instance, {**found[row], "alpha": lm.alpha})

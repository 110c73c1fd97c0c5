"""TuCo from the joint pass: per prompt, at its last real token, batched with padding."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from tuco_eval.core.batching import (
    encode_prompts,
    last_token_positions,
    model_max_length,
    pad_batch,
    position_ids_from_mask,
    real_token_positions,
    token_pieces,
)
from tuco_eval.core.compat import takes_logits_per_row
from tuco_eval.core.generation import end_of_sequence_ids, greedy_generate
from tuco_eval.core.joint import Joint, TucoSums, nonfinite_error
from tuco_eval.core.measures import measures_from_logits, records_of
from tuco_eval.util.errors import TucoError
from tuco_eval.util.jsonl import read_jsonl
from tuco_eval.util.resume import progress_bar


@torch.no_grad()
def tuco_of_batch(
    joint: Joint,
    input_ids: Tensor,
    attention_mask: Tensor,
    alpha: float = 1.0,
    *,
    ends: Tensor | None = None,
    per_token: bool = False,
) -> dict[str, Tensor]:
    """One joint forward; TuCo and the norms at each row's last real token (float32).

    The paper's TuCo is that of the fine-tuned model's own pass, α = 1 (the default).
    `ends` ([batch] indices) measures at other tokens than the last (a prompt before its
    response). `per_token` also returns `tuco_per_token` [batch, seq]: the sums then track every
    position of the batch, 8·hidden bytes per token (two float32 sums), freed after the batch.
    """
    positions = last_token_positions(attention_mask) if ends is None else ends
    sums = TucoSums(positions=None if per_token else positions)
    # only the next-token logits at each row's last real token are used: project only those
    sliced = takes_logits_per_row(joint.model)
    extra = {"logits_to_keep": positions[:, None].to(input_ids.device)} if sliced else {}
    with joint.active(sums, alpha=alpha):
        logits = joint.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids_from_mask(attention_mask),
            use_cache=False,
            **extra,
        ).logits
    every = sums.tuco()
    real = every[attention_mask.to(every.device).bool()] if per_token else every
    if not torch.isfinite(real).all():  # padding may hold anything: it is never read
        raise nonfinite_error(joint, "TuCo", alpha=alpha)  # the α that produced it

    def pick(t: Tensor) -> Tensor:  # [..., B, T] -> [..., B] at `positions` when all are tracked
        if not per_token:
            return t
        return t[..., torch.arange(len(positions), device=t.device), positions.to(t.device)]

    ptc_l1, ftc_l1 = sums.l1()
    per_layer_ptc, per_layer_ftc = sums.per_layer()
    out = {
        "tuco": pick(every),
        "ptc_l1": pick(ptc_l1),
        "ftc_l1": pick(ftc_l1),
        "per_layer_ptc_l1": pick(per_layer_ptc).T,
        "per_layer_ftc_l1": pick(per_layer_ftc).T,
        "logits": logits[:, 0] if sliced else logits[  # next token
            torch.arange(len(positions), device=logits.device), positions.to(logits.device)
        ],
    }
    if per_token:
        out["tuco_per_token"] = every
    return out


def report_truncated(count: int) -> None:
    """One line saying how many prompts lost their start to the model's context length."""
    if count:
        print(
            f"tuco-eval: {count} prompt(s) longer than the model's context were truncated from "
            f"the left (their `truncated` field is true)"
        )


def compute_tuco(
    joint: Joint,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 8,
    chat_template: bool = False,
    padding_side: str = "right",
    progress: Any = True,
    base_logits: Callable[[Tensor, Tensor], Tensor] | None = None,
    warn_truncated: bool = True,
    per_token: bool = False,
    generate: int = 0,
    alpha: float = 1.0,
) -> list[dict[str, Any]]:
    """TuCo of each text, in input order: `tuco`, `ptc_l1`, `ftc_l1`, `n_tokens`, per-layer norms.

    With `base_logits(ids, mask)` (the base's last-token logits: one extra base pass per batch),
    each result also gets `kl`, `base_rank` and `shift` (tuco_eval.core.measures).
    `per_token` adds `tokens` (each token's text) and `tuco_per_token` (the TuCo of the text cut
    after each token), from the same pass. `generate=N` first continues each prompt greedily by
    up to N tokens at `alpha` (stopping at end of sequence), adds `response` and
    `n_response_tokens`, and gives per-token values over prompt and response; `tuco` (and every
    other measure) stays the prompt's, always measured at α = 1.

    Prompts are sorted by length into batches (less padding); results do not depend on it.
    `progress`: true for a bar of its own, or an existing tqdm bar to advance per batch.
    """
    if batch_size < 1:
        raise TucoError(f"batch size must be at least 1, got {batch_size}")
    if generate < 0:
        raise TucoError(f"the number of tokens to generate must be 0 or more, got {generate}")
    context = model_max_length(joint.model)
    if generate and context is not None and generate >= context:
        raise TucoError(f"cannot generate {generate} tokens: the model's context is {context}")
    encoded, truncated = encode_prompts(
        tokenizer, texts, chat_template=chat_template,
        max_length=context - generate if context else None,  # room left for the response
    )
    if warn_truncated:
        report_truncated(sum(truncated))
    per_token = per_token or generate > 0
    device = next(joint.model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    eos_ids = end_of_sequence_ids(joint.model, tokenizer)
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    results: list[dict[str, Any] | None] = [None] * len(encoded)
    bar, own_bar = progress_bar(progress, len(encoded), "TuCo", "prompt")  # or the caller's bar
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        prompts = [encoded[i] for i in chunk]
        responses = (
            greedy_generate(joint, prompts, generate, alpha=alpha, pad_id=pad_id, eos_ids=eos_ids)
            if generate
            else [[] for _ in chunk]
        )
        rows = [p + r for p, r in zip(prompts, responses, strict=True)]
        ids, mask = pad_batch(rows, pad_id, padding_side)
        ends = real_token_positions(mask, torch.tensor([len(p) for p in prompts]))
        out = tuco_of_batch(
            joint, ids.to(device), mask.to(device), ends=ends.to(device), per_token=per_token
        )
        out = {k: v.cpu() for k, v in out.items()}
        for row, index in enumerate(chunk):
            results[index] = {
                "tuco": float(out["tuco"][row]),
                "ptc_l1": float(out["ptc_l1"][row]),
                "ftc_l1": float(out["ftc_l1"][row]),
                "n_tokens": len(encoded[index]),
                "truncated": truncated[index],
                "per_layer_ptc_l1": out["per_layer_ptc_l1"][row].tolist(),
                "per_layer_ftc_l1": out["per_layer_ftc_l1"][row].tolist(),
            }
            if per_token:
                results[index]["tokens"] = token_pieces(tokenizer, rows[row])
                results[index]["tuco_per_token"] = out["tuco_per_token"][row][mask[row].bool()].tolist()
            if generate:
                results[index]["response"] = tokenizer.decode(responses[row])
                results[index]["n_response_tokens"] = len(responses[row])
        if base_logits is not None:
            if generate:  # the base sees the prompts alone, as the joint logits at `ends` did
                ids, mask = pad_batch(prompts, pad_id, padding_side)
            extra = measures_from_logits(
                out["logits"], base_logits(ids.to(device), mask.to(device))
            )
            for index, fields in zip(chunk, records_of(extra), strict=True):
                results[index].update(fields)
        bar.update(len(chunk))
    if own_bar:
        bar.close()
    return results  # type: ignore[return-value]


def read_prompts(path: str | Path, text_field: str = "text") -> list[tuple[Any, str]]:
    """(id, text) per line of a JSONL prompt file; `id` is carried through, else the line number."""
    prompts = []
    for number, obj in read_jsonl(path):
        if text_field not in obj:
            raise TucoError(
                f"{path}:{number}: no field {text_field!r} (use --text-field to name it)"
            )
        text = obj[text_field]
        if not isinstance(text, str) or not text:
            raise TucoError(f"{path}:{number}: field {text_field!r} must be a non-empty string")
        prompts.append((obj.get("id", number), text))
    if not prompts:
        raise TucoError(f"{path}: no prompts in the file (expected one JSON object per line)")
    return prompts

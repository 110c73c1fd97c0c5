"""Store records from lm-eval's logged samples: one record per doc (ids, the prompt's hash,
metrics per filter, log-likelihoods or responses, TuCo when logged). Shared by the sweep (samples
in memory) and the import of lm-eval's own output folders (samples read from files), so both
store the same record for the same sample."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tuco_eval.store.clusters import scalar_fields

LOGGED_FIELDS = ("tuco", "kl", "base_rank", "shift")  # per-doc fields a log_* option adds


def sample_record(sample: Mapping[str, Any]) -> dict[str, Any]:
    """One store record from an lm-eval logged sample: ids, metrics, log-likelihoods, TuCo."""
    record: dict[str, Any] = {"doc_id": int(sample["doc_id"]), "doc_hash": sample["doc_hash"]}
    if isinstance(sample.get("prompt_hash"), str):  # the rendered context: pairs need equal prompts
        record["prompt_hash"] = sample["prompt_hash"]
    for metric in sample.get("metrics", []):
        value = sample.get(metric)
        if isinstance(value, (int, float)):
            record[metric] = float(value)
    responses = [r[0] for r in sample.get("resps", []) if r]
    if responses and all(isinstance(r, (tuple, list)) and len(r) == 2 for r in responses):
        record["loglikelihoods"] = [float(r[0]) for r in responses]
    elif responses and all(isinstance(r, str) for r in responses):
        record["responses"] = responses
    logged = [
        a[-1]
        for a in sample.get("arguments", [])
        if a and isinstance(a[-1], dict) and ("tuco" in a[-1] or "kl" in a[-1])
    ]
    if logged:  # TuCo and the next-token measures (tuco_eval.core.measures), when logged
        record.update({k: logged[0][k] for k in LOGGED_FIELDS if k in logged[0]})
    return record


def doc_records(samples: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One record per doc, sorted by doc_id; lm-eval logs a sample per (doc, filter)."""
    return digest_samples(samples)[0]


def digest_samples(samples: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """(one record per doc sorted by doc_id, the filters in the order lm-eval logged them), in one
    pass that keeps of each sample only its record: `samples` may be a file read line by line."""
    parts: dict[int, list[tuple[dict[str, Any], list[str], str]]] = {}
    filters: dict[str, None] = {}
    for sample in samples:
        filter_name = str(sample.get("filter", "none"))
        filters.setdefault(filter_name)
        parts.setdefault(int(sample["doc_id"]), []).append(
            (sample_record(sample), list(sample.get("metrics", [])), filter_name))
    return [_merged(parts[d]) for d in sorted(parts)], list(filters)


def doc_record(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One doc's record from its samples, one per filter: a single filter's metrics keep their
    plain names; with several, each filter's metrics are `<metric>,<filter>` (lm-eval's naming)."""
    return _merged([(sample_record(s), list(s.get("metrics", [])), str(s.get("filter", "none"))) for s in samples])


def _merged(parts: Sequence[tuple[dict[str, Any], list[str], str]]) -> dict[str, Any]:
    """A doc's record from its samples' (record, metric names, filter)."""
    record = dict(parts[0][0])
    if len(parts) == 1:
        return record
    for own, metrics, filter_name in parts:
        for metric in metrics:
            record.pop(metric, None)
        record.update({f"{m},{filter_name}": own[m] for m in sorted(set(metrics)) if m in own})
    return record


def doc_text(sample: dict[str, Any], task: Any = None) -> dict[str, Any]:
    """What a reader needs to see of one doc: its prompt (the task's question text, else the
    whole context the model saw), the answer choices of a multiple-choice task, and the target;
    and the doc's short fields, which a cluster can be named by (store.clusters)."""
    args = [a for a in sample.get("arguments", []) if isinstance(a, (tuple, list)) and a]
    prompt = str(args[0][0]) if args else ""
    try:  # the bare question reads better than the few-shot, chat-templated context
        text = task.doc_to_text(sample["doc"]) if task is not None else None
    except Exception:  # noqa: BLE001 - a task's own text function; the context serves instead
        text = None
    if isinstance(text, str) and text.strip():
        prompt = text
    record: dict[str, Any] = {"doc_id": int(sample["doc_id"]), "prompt": prompt}
    if args and all(len(a) > 1 and isinstance(a[1], str) for a in args):
        record["choices"] = [a[1] for a in args]
    target = sample.get("target")
    record["target"] = target if isinstance(target, (int, str, list)) else str(target)
    fields = scalar_fields(sample.get("doc"))
    if fields:
        record["fields"] = fields
    return record

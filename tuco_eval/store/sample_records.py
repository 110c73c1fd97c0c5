"""Store records from lm-eval's logged samples: one record per doc (ids, the prompt's hash,
metrics per filter, log-likelihoods or responses, TuCo when logged). Shared by the sweep (samples
in memory) and the import of lm-eval's own output folders (samples read from files), so both
store the same record for the same sample."""

from __future__ import annotations

from typing import Any

from tuco_eval.store.clusters import scalar_fields

LOGGED_FIELDS = ("tuco", "kl", "base_rank", "shift")  # per-doc fields a log_* option adds


def sample_record(sample: dict[str, Any]) -> dict[str, Any]:
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


def doc_records(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per doc, sorted by doc_id; lm-eval logs a sample per (doc, filter)."""
    by_doc: dict[int, list[dict[str, Any]]] = {}
    for sample in samples:
        by_doc.setdefault(int(sample["doc_id"]), []).append(sample)
    return [doc_record(by_doc[d]) for d in sorted(by_doc)]


def doc_record(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """One doc's record from its samples, one per filter: a single filter's metrics keep their
    plain names; with several, each filter's metrics are `<metric>,<filter>` (lm-eval's naming)."""
    record = sample_record(samples[0])
    if len(samples) == 1:
        return record
    for sample in samples:
        metrics = set(sample.get("metrics", []))
        own = sample_record(sample)
        for metric in metrics:
            record.pop(metric, None)
        record.update({f"{m},{sample['filter']}": own[m] for m in sorted(metrics) if m in own})
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

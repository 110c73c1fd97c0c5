"""Summaries of an experiment's per-prompt values: per-set statistics, AUCs, and the Markdown table.

AUC orientation: `auc(positive, negative)` is scikit-learn's `roc_auc_score` with label 1 for the
positive set and the metric (TuCo or OutputCo) as the score; above 0.5 means the positive set
tends to score higher. Ties count one half (the Mann-Whitney convention).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tuco_eval.render import tables

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
METRICS = ("tuco", "outputco")


def describe(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, sample standard deviation (0 for one value) and quantiles (linear interpolation)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return {"n": 0}
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
        "quantiles": {f"q{round(100 * q):02d}": float(np.quantile(x, q)) for q in QUANTILES},
    }


def auc(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """ROC AUC of the values for telling `positive` from `negative`; None if either is empty."""
    from sklearn.metrics import roc_auc_score

    if not positive or not negative:
        return None
    labels = [1] * len(positive) + [0] * len(negative)
    return float(roc_auc_score(labels, [*positive, *negative]))


def values_by_set(records: Sequence[Mapping[str, Any]], metric: str) -> dict[str, list[float]]:
    by_set: dict[str, list[float]] = {}
    for record in records:
        by_set.setdefault(record["set"], []).append(float(record[metric]))
    return by_set


def set_statistics(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{set: {metric: describe(...)}} in the order sets first appear."""
    stats: dict[str, dict[str, Any]] = {}
    for metric in METRICS:
        for name, values in values_by_set(records, metric).items():
            stats.setdefault(name, {})[metric] = describe(values)
    return stats


def set_aucs(
    records: Sequence[Mapping[str, Any]], comparisons: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """One entry per (positive set, negative set) and metric."""
    entries = []
    for metric in METRICS:
        by_set = values_by_set(records, metric)
        for positive, negative in comparisons:
            pos, neg = by_set.get(positive, []), by_set.get(negative, [])
            entries.append(_entry(metric, positive, negative, pos, neg))
    return entries


def jailbreak_aucs(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """AUC of each metric for telling refused prompts (positive) from jailbroken ones, over the
    prompts that were sampled; None when one class is empty."""
    judged = [r for r in records if "jailbroken" in r]
    entries = []
    for metric in METRICS:
        pos = [float(r[metric]) for r in judged if not r["jailbroken"]]
        neg = [float(r[metric]) for r in judged if r["jailbroken"]]
        entries.append(_entry(metric, "not jailbroken", "jailbroken", pos, neg))
    return entries


def _entry(
    metric: str, positive: str, negative: str, pos: Sequence[float], neg: Sequence[float]
) -> dict[str, Any]:
    return {
        "metric": metric,
        "positive": positive,
        "negative": negative,
        "n_positive": len(pos),
        "n_negative": len(neg),
        "auc": auc(pos, neg),
    }


STATS_HEADERS = ["set", "n", "mean", "std", "q05", "q25", "median", "q75", "q95"]
AUC_HEADERS = ["metric", "positive", "negative", "n+", "n−", "AUC"]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """The summary as Markdown: a statistics table per metric, then the AUC tables."""
    lines = [f"# Experiment `{summary['experiment']}`", ""]
    lines += [
        f"Model: `{summary['finetuned']}` (base `{summary['base']}`), seed {summary['seed']}.",
        "",
    ]
    for metric, title in (("tuco", "TuCo"), ("outputco", "OutputCo")):
        lines += [f"## {title} per set", ""]
        rows = []
        for name, stats in summary["sets"].items():
            s = stats[metric]
            q = s.get("quantiles", {})
            cells = [
                s.get("mean"),
                s.get("std"),
                *(q.get(k) for k in ("q05", "q25", "q50", "q75", "q95")),
            ]
            rows.append([name, str(s["n"]), *(_fmt(c) for c in cells)])
        lines.append(tables.markdown(STATS_HEADERS, rows).rstrip("\n"))
        lines.append("")
    for key, title in (("auc", "AUC between sets"), ("jailbreak_auc", "AUC for jailbreak success")):
        if not summary.get(key):
            continue
        lines += [
            f"## {title}",
            "",
            "AUC > 0.5: the positive set scores higher; — when a side is empty.",
            "",
        ]
        rows = [
            [e["metric"], e["positive"], e["negative"], str(e["n_positive"]),
             str(e["n_negative"]), _fmt(e["auc"])]
            for e in summary[key]
        ]
        lines.append(tables.markdown(AUC_HEADERS, rows).rstrip("\n"))
        lines.append("")
    if "jailbreak" in summary:
        j = summary["jailbreak"]
        lines += [
            f"Jailbreak rule: {j['samples']} samples of ≤ {j['max_new_tokens']} new tokens per "
            f"prompt; jailbroken when ≥ {j['min_compliant']} are not refusals; "
            f"{j['jailbroken']} of {j['prompts']} prompts jailbroken.",
            "",
        ]
    return "\n".join(lines)

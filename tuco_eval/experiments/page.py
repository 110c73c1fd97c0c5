"""`index.html` of `tuco-eval experiment`: AUCs, per-set statistics, the figures and a sample of
prompts with their TuCo, on one self-contained page (template render/templates/experiment.html.j2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tuco_eval.render.html_page import Table, TextBlock, relative_name, write_page

PER_SET = 8  # prompts shown per set, spread from the lowest TuCo to the highest
FILES = ("tuco.jsonl", "summary.json", "summary.md")


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def auc_table(entries: Sequence[Mapping[str, Any]]) -> Table:
    rows = [
        [e["metric"], e["positive"], e["negative"], str(e["n_positive"]), str(e["n_negative"]),
         _fmt(e["auc"])]
        for e in entries
    ]
    return Table(["metric", "positive", "negative", "n+", "n−", "AUC"], rows)


def statistics_table(sets: Mapping[str, Mapping[str, Any]]) -> Table:
    rows = []
    for name, by_metric in sets.items():
        for metric, s in by_metric.items():
            q = s.get("quantiles", {})
            cells = [s.get("mean"), s.get("std"), *(q.get(k) for k in ("q05", "q25", "q50", "q75", "q95"))]
            rows.append([name, metric, str(s["n"]), *(_fmt(c) for c in cells)])
    return Table(["set", "metric", "n", "mean", "std", "q05", "q25", "median", "q75", "q95"], rows)


def sample_prompts(records: Sequence[Mapping[str, Any]], per_set: int = PER_SET) -> list[Mapping]:
    """Up to ``per_set`` records of each set at evenly spaced ranks of TuCo (lowest and highest
    included), in set order then TuCo order."""
    chosen: list[Mapping] = []
    for name in dict.fromkeys(r["set"] for r in records):
        members = sorted((r for r in records if r["set"] == name), key=lambda r: r["tuco"])
        picks = np.unique(np.linspace(0, len(members) - 1, min(per_set, len(members))).round())
        chosen += [members[int(i)] for i in picks]
    return chosen


def prompts_table(records: Sequence[Mapping[str, Any]]) -> Table:
    sample = sample_prompts(records)
    judged = any("jailbroken" in r for r in sample)
    headers = ["set", "id", "TuCo", "OutputCo", *(["jailbroken"] if judged else []), "prompt"]
    rows = [
        [
            str(r["set"]), str(r["id"]), f"{r['tuco']:.4f}", f"{r['outputco']:.4f}",
            *([str(r.get("jailbroken", "–")).lower()] if judged else []),
            TextBlock(str(r["text"])),
        ]
        for r in sample
    ]
    return Table(headers, rows)


def write_experiment_page(
    out: Path, name: str, records: Sequence[Mapping[str, Any]], summary: Mapping[str, Any],
    figures: Sequence[Path],
) -> Path:
    """Write ``out/index.html`` for an experiment's records, summary and figures."""
    sections = [("auc", "AUC between sets")]
    if summary.get("jailbreak_auc"):
        sections.append(("jailbreak", "AUC for jailbreak success"))
    sections += [("statistics", "Per-set statistics"), ("figures", "Figures"),
                 ("prompts", "Sample of prompts"), ("files", "Files")]
    facts = ("finetuned", "base", "n", "seed")
    jailbreak = summary.get("jailbreak", {})
    return write_page(
        out / "index.html", "experiment.html.j2",
        title=f"TuCo experiment {name}", name=name, sections=sections, per_set=PER_SET,
        summary={key: summary.get(key, "?") for key in facts},
        auc=auc_table(summary.get("auc", [])),
        jailbreak={key: jailbreak.get(key, "?") for key in
                   ("jailbroken", "prompts", "samples", "max_new_tokens", "min_compliant")},
        jailbreak_auc=auc_table(summary.get("jailbreak_auc") or []),
        statistics=statistics_table(summary.get("sets", {})),
        figures=[(f.read_text(), f.stem.replace("_", " ")) for f in figures if f.suffix == ".svg"],
        prompts=prompts_table(records),
        files=[relative_name(out / n, out) for n in FILES],
    )

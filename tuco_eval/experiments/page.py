"""`index.html` of `tuco-eval experiment`: AUCs, per-set statistics, the figures and a sample of
prompts with their TuCo, on one self-contained page (see tuco_eval.render.html_page)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tuco_eval.render.html_page import esc, relative_link, svg_figure, table, text_block, write_page

PER_SET = 8  # prompts shown per set, spread from the lowest TuCo to the highest


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _auc_table(entries: Sequence[Mapping[str, Any]], table_id: str) -> str:
    headers = ["metric", "positive", "negative", "n+", "n−", "AUC"]
    rows = [
        [e["metric"], e["positive"], e["negative"], str(e["n_positive"]), str(e["n_negative"]),
         _fmt(e["auc"])]
        for e in entries
    ]
    return f'<div class="scroll">{table(headers, rows, table_id)}</div>'


def _stats_table(sets: Mapping[str, Mapping[str, Any]]) -> str:
    headers = ["set", "metric", "n", "mean", "std", "q05", "q25", "median", "q75", "q95"]
    rows = []
    for name, by_metric in sets.items():
        for metric, s in by_metric.items():
            q = s.get("quantiles", {})
            cells = [s.get("mean"), s.get("std"), *(q.get(k) for k in ("q05", "q25", "q50", "q75", "q95"))]
            rows.append([name, metric, str(s["n"]), *(_fmt(c) for c in cells)])
    return f'<div class="scroll">{table(headers, rows, "statistics")}</div>'


def sample_prompts(records: Sequence[Mapping[str, Any]], per_set: int = PER_SET) -> list[Mapping]:
    """Up to ``per_set`` records of each set at evenly spaced ranks of TuCo (lowest and highest
    included), in set order then TuCo order."""
    chosen: list[Mapping] = []
    for name in dict.fromkeys(r["set"] for r in records):
        members = sorted((r for r in records if r["set"] == name), key=lambda r: r["tuco"])
        picks = np.unique(np.linspace(0, len(members) - 1, min(per_set, len(members))).round())
        chosen += [members[int(i)] for i in picks]
    return chosen


def _prompts(records: Sequence[Mapping[str, Any]]) -> str:
    sample = sample_prompts(records)
    judged = any("jailbroken" in r for r in sample)
    headers = ["set", "id", "TuCo", "OutputCo", *(["jailbroken"] if judged else []), "prompt"]
    rows = [
        [
            str(r["set"]), str(r["id"]), f"{r['tuco']:.4f}", f"{r['outputco']:.4f}",
            *([str(r.get("jailbroken", "–")).lower()] if judged else []),
            text_block(str(r["text"])),
        ]
        for r in sample
    ]
    return (
        f'<p class="note">{PER_SET} prompts per set, from the lowest TuCo to the highest; every '
        "prompt is in tuco.jsonl. Prompts are shown as the model saw them (chat template "
        "included).</p>"
        '<p><label>Filter prompts: <input type="search" id="prompt-filter" placeholder="text …" '
        'data-filter="#prompts tbody tr"></label></p>'
        f'<div class="scroll">{table(headers, rows, "prompts")}</div>'
    )


def write_experiment_page(
    out: Path, name: str, records: Sequence[Mapping[str, Any]], summary: Mapping[str, Any],
    figures: Sequence[Path],
) -> Path:
    """Write ``out/index.html`` for an experiment's records, summary and figures."""
    sections = [("auc", "AUC between sets", _auc_table(summary.get("auc", []), "auc"))]
    if summary.get("jailbreak_auc"):
        j = summary.get("jailbreak", {})
        note = (
            f'<p class="note">{j.get("jailbroken", "?")} of {j.get("prompts", "?")} prompts '
            f"jailbroken ({j.get('samples', '?')} samples of ≤ {j.get('max_new_tokens', '?')} new "
            f"tokens each; jailbroken when ≥ {j.get('min_compliant', '?')} are not refusals).</p>"
        )
        sections.append(
            ("jailbreak", "AUC for jailbreak success",
             note + _auc_table(summary["jailbreak_auc"], "jailbreak-auc"))
        )
    sections += [
        ("statistics", "Per-set statistics", _stats_table(summary.get("sets", {}))),
        ("figures", "Figures", '<div class="figures">' + "".join(
            svg_figure(f.read_text(), f.stem.replace("_", " ")) for f in figures if f.suffix == ".svg"
        ) + "</div>"),
        ("prompts", "Sample of prompts", _prompts(records)),
        ("files", "Files", "<ul>" + "".join(
            f"<li>{relative_link(out / n, out)}</li>"
            for n in ("tuco.jsonl", "summary.json", "summary.md")
        ) + "</ul>"),
    ]
    nav = "".join(f'<a href="#s-{key}">{esc(title)}</a>' for key, title, _ in sections)
    head = (
        f"<h1>Experiment {esc(name)}</h1><p class=\"muted\">fine-tuned "
        f"{esc(summary.get('finetuned', '?'))}, base {esc(summary.get('base', '?'))}; "
        f"n = {esc(summary.get('n', '?'))} per set, seed {esc(summary.get('seed', '?'))}. "
        "AUC &gt; 0.5: the positive set tends to score higher.</p>"
        f"<nav>{nav}</nav>"
    )
    body = head + "".join(
        f'<section id="s-{key}"><h2>{esc(title)}</h2>{content}</section>'
        for key, title, content in sections
    )
    return write_page(out / "index.html", f"TuCo experiment {name}", body)

"""Figures of an experiment: TuCo/OutputCo histograms per set, TuCo versus shots, and per-layer
‖FTC_l‖₁/‖PTC_l‖₁ profiles averaged per set. PNG and SVG, drawn with matplotlib's Agg backend."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from tuco_eval.experiments.summary import values_by_set  # noqa: E402
from tuco_eval.render.plots import save_figure  # noqa: E402

METRIC_LABELS = {"tuco": "TuCo", "outputco": "OutputCo"}


def histograms(records: Sequence[Mapping[str, Any]], title: str, stem: Path,
               metrics: Sequence[str] = ("tuco", "outputco")) -> list[Path]:
    """One panel per metric; one step histogram per set, on shared bins."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), layout="constrained",
                             squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        label = METRIC_LABELS[metric]
        by_set = values_by_set(records, metric)
        pooled = np.concatenate([np.asarray(v) for v in by_set.values()])
        bins = np.histogram_bin_edges(pooled, bins="auto")
        if len(bins) > 41:  # long-tailed data: "auto" can ask for hundreds of bins
            bins = np.linspace(pooled.min(), pooled.max(), 41)
        for name, values in by_set.items():
            ax.hist(
                values,
                bins=bins,
                histtype="step",
                linewidth=1.6,
                label=f"{name} (n={len(values)})",
            )
        ax.set_xlabel(label)
        ax.set_ylabel("prompts")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{label} per prompt set")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="prompt set", title_fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, stem)


def layer_profiles(records: Sequence[Mapping[str, Any]], title: str, stem: Path) -> list[Path]:
    """Mean over each set's prompts of ‖FTC_l‖₁ / ‖PTC_l‖₁ at every block l."""
    ratios: dict[str, list[np.ndarray]] = {}
    for r in records:
        ptc, ftc = np.asarray(r["per_layer_ptc_l1"]), np.asarray(r["per_layer_ftc_l1"])
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero PTC_l leaves a gap
            ratios.setdefault(r["set"], []).append(np.where(ptc > 0, ftc / ptc, np.nan))
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for name, rows in ratios.items():
        mean = np.nanmean(np.stack(rows), axis=0)
        ax.plot(np.arange(len(mean)), mean, marker="o", markersize=3, label=name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("block l (0 = first)")
    ax.set_ylabel("mean ‖FTC_l‖₁ / ‖PTC_l‖₁")
    ax.set_title(f"{title}: fine-tuning versus pre-training contribution per block")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="prompt set", title_fontsize=8)
    return save_figure(fig, stem)


def shots_of(set_name: str) -> int | None:
    match = re.fullmatch(r"(\d+)-shot", set_name)
    return int(match.group(1)) if match else None


def versus_shots(records: Sequence[Mapping[str, Any]], title: str, stem: Path) -> list[Path]:
    """Mean TuCo and OutputCo (± one standard error) against the number of shots, log₂ axis."""
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for metric, label in METRIC_LABELS.items():
        points = sorted(
            (shots_of(s), np.asarray(v)) for s, v in values_by_set(records, metric).items()
        )
        ks = [k for k, _ in points]
        means = np.array([v.mean() for _, v in points])
        errs = np.array([v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0 for _, v in points])
        ax.errorbar(ks, means, yerr=errs, marker="o", capsize=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("shots in the prompt (k)")
    ax.set_ylabel("mean over prompts (± s.e.)")
    ax.set_title(f"{title}: contribution of fine-tuning versus shots")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, stem)

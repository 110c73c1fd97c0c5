"""Figures of a TuCo report: accuracy versus alpha per task, and a task x alpha heat map."""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from tuco_eval.records.report import AlphaCurve  # noqa: E402
from tuco_eval.util.files import atomic_write_bytes  # noqa: E402

ALPHA_LABEL = "α (fine-tuning scale)"
METRIC_NAMES = {"acc": "accuracy", "acc_norm": "normalised accuracy", "exact_match": "exact match"}
MAX_PANELS = 20  # per figure; larger groups are split over several figures


@dataclass(frozen=True)
class Curve:
    """One checkpoint's mean metric at each alpha for one task (or group), and the chosen alphas."""

    label: str
    alphas: np.ndarray
    values: np.ndarray  # in [0, 1]
    chosen: Sequence[float] = ()
    delta: float | None = None  # Δ_CV, written in the panel


def metric_name(metric: str) -> str:
    """Human name of an lm-eval metric for axis labels."""
    return METRIC_NAMES.get(metric, metric)


def curve_from(label: str, curve: AlphaCurve) -> Curve:
    """The Curve to draw of one task's (or group's, or mode's) score against α."""
    pairs = sorted((float(a), v) for a, v in curve.acc_by_alpha.items())
    return Curve(
        label=label,
        alphas=np.array([a for a, _ in pairs]),
        values=np.array([v for _, v in pairs]),
        chosen=tuple(curve.chosen),
        delta=curve.delta_cv,
    )


def save_figure(fig: plt.Figure, stem: Path) -> list[Path]:
    """`stem`.png and `stem`.svg, written atomically; the figure is closed."""
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=130)
    fig.set_layout_engine("none")  # the layout is done: the SVG reuses it (halves the time)
    # text stays text (smaller, searchable); ids from a fixed salt, not random: the same figure, the same bytes
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "tuco-eval"}):
        fig.savefig(svg, format="svg", metadata={"Date": None})  # no date: reproducible SVG
    plt.close(fig)
    # the suffix is appended: with_suffix would cut a stem such as heatmap_model-v1.0 at its dot
    return [
        atomic_write_bytes(stem.with_name(f"{stem.name}.png"), png.getvalue()),
        atomic_write_bytes(stem.with_name(f"{stem.name}.svg"), svg.getvalue()),
    ]


def _draw_panel(
    ax: plt.Axes, title: str, curves: Sequence[Curve], colors: Mapping[str, str]
) -> None:
    ax.axvline(1.0, color="0.55", linestyle="--", linewidth=1)
    for curve in curves:
        color = colors[curve.label]
        label = None if curve.delta is None else f"Δ_CV {100 * curve.delta:+.2f} pts"
        ax.plot(
            curve.alphas, 100 * curve.values, marker="o", markersize=3, color=color, label=label
        )
        for alpha, folds in Counter(curve.chosen).items():  # star area grows with the folds
            y = 100 * curve.values[np.argmin(np.abs(curve.alphas - alpha))]
            ax.scatter(
                [alpha],
                [y],
                marker="*",
                s=40 + 40 * folds,
                color=color,
                edgecolor="black",
                zorder=3,
            )
    if any(c.delta is not None for c in curves):  # "best" keeps the Δ_CV box off the data
        ax.legend(fontsize=6.5, loc="best", handlelength=1.2, framealpha=0.85)
    ax.set_title(title if len(title) <= 38 else title[:36] + "…", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def accuracy_vs_alpha(
    panels: Sequence[tuple[str, Sequence[Curve]]], title: str, metric: str, stem: Path
) -> list[Path]:
    """Grid of small panels, one per task: metric (%) versus alpha, one line per checkpoint."""
    labels = list(dict.fromkeys(c.label for _, curves in panels for c in curves))
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {label: palette[i % len(palette)] for i, label in enumerate(labels)}
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    n_handles = len(labels) + 1 + any(c.chosen for _, curves in panels for c in curves)
    width = max(3.3 * ncols + 0.5, 6.0)  # room for a readable legend under a single panel
    legend_columns = max(1, min(n_handles, int(width // 2.9)))
    legend_rows = math.ceil(n_handles / legend_columns)
    height = 2.6 * nrows + 1.2 + 0.25 * legend_rows
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    # fixed margins in inches: a layout engine would double the drawing time of these grids
    fig.subplots_adjust(
        left=0.75 / width,
        right=1 - 0.15 / width,
        top=1 - 0.65 / height,
        bottom=(0.8 + 0.25 * legend_rows) / height,
        wspace=0.25,
        hspace=0.55,
    )
    for ax, (panel_title, curves) in zip(axes.flat, panels, strict=False):
        _draw_panel(ax, panel_title, curves, colors)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=12, y=1 - 0.15 / height)
    for ax in axes.flat[max(0, len(panels) - ncols) : len(panels)]:  # lowest panel of each column
        ax.set_xlabel(ALPHA_LABEL, fontsize=9)
    fig.supylabel(f"{metric_name(metric)} (%)", x=0.1 / width)
    handles = [Line2D([], [], color=colors[label], marker="o", label=label) for label in labels]
    handles.append(
        Line2D([], [], color="0.55", linestyle="--", label="α = 1: fine-tuned model as is")
    )
    if any(c.chosen for _, curves in panels for c in curves):
        star = {"marker": "*", "linestyle": "", "markersize": 10, "markeredgecolor": "black"}
        handles.append(
            Line2D([], [], color="0.3", label="α chosen by CV (bigger: more folds)", **star)
        )
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.05 / height),
        ncol=legend_columns,
        fontsize=8,
    )
    return save_figure(fig, stem)


def heat_map(label: str, tasks: Mapping[str, AlphaCurve], metric: str, stem: Path) -> list[Path]:
    """Task x alpha map of (metric at alpha - metric at alpha=1) in points, chosen alphas boxed."""
    names = list(tasks)
    curves = [curve_from(label, tasks[name]) for name in names]
    alphas = np.array(sorted({float(a) for c in curves for a in c.alphas}))
    table = [dict(zip(c.alphas.tolist(), c.values.tolist(), strict=True)) for c in curves]
    # tasks swept on fewer alphas get blank cells
    values = np.array([[row.get(a, np.nan) for a in alphas.tolist()] for row in table])
    change = 100 * (values - values[:, [int(np.argmin(np.abs(alphas - 1.0)))]])
    limit = max(0.5, float(np.nanmax(np.abs(change))))
    size = (1.0 * len(alphas) + 3.5, max(3.0, 0.24 * len(names) + 1.8))  # room for the colour-bar label
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    image = ax.imshow(change, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set_yticks(range(len(names)), names, fontsize=7 if len(names) > 20 else 9)
    ax.set_xlabel(ALPHA_LABEL)
    for row, curve in enumerate(curves):
        for col in np.flatnonzero(np.isfinite(change[row])):
            ax.text(
                col,
                row,
                f"{change[row, col]:+.1f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if abs(change[row, col]) > 0.6 * limit else "black",
            )
        for alpha in set(curve.chosen):
            col = int(np.argmin(np.abs(alphas - alpha)))
            ax.add_patch(
                Rectangle(
                    (col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.4
                )
            )
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    bar.set_label(f"{metric_name(metric)} at α\nminus at α = 1 (points)")
    ax.set_title(
        f"{label}: change of {metric_name(metric)} with α\n(boxed: α chosen by CV in some fold)",
        fontsize=10,
    )
    return save_figure(fig, stem)


@dataclass(frozen=True)
class Series:
    """One group's (or task's) values at each checkpoint's training step; NaN where missing."""

    name: str
    steps: np.ndarray
    score: np.ndarray  # at α = 1, in [0, 1]
    score_cv: np.ndarray  # at the cross-validated α
    tuco: np.ndarray  # mean TuCo at α = 1
    base: float | None = None  # the base model's score, drawn as a horizontal line
    significant: np.ndarray | None = None  # per step: differs significantly (filled marker)


SERIES_PANELS = (
    ("score", "{metric} at α = 1 (%)"),
    ("score_cv", "{metric}, cross-validated α (%)"),
    ("tuco", "mean TuCo at α = 1"),
)


def _series_handles(series: Sequence[Series], palette: Sequence[str], compared: str) -> list[Line2D]:
    """The legend of the series figure: a line per group or task, the base, the markers."""
    handles = [
        Line2D([], [], color=palette[i % len(palette)], marker="o", label=line.name)
        for i, line in enumerate(series)
    ]
    if any(line.base is not None for line in series):
        handles.append(Line2D([], [], color="0.4", linestyle="--", label="base model (dashed)"))
    if any(line.significant is not None for line in series):
        handles += [
            Line2D([], [], color="0.4", marker="o", linestyle="none", label=f"differs from {compared}*"),
            Line2D([], [], color="0.4", marker="o", markerfacecolor="white", linestyle="none", label="does not"),
        ]
    return handles


def checkpoint_series(
    series: Sequence[Series], title: str, metric: str, stem: Path, compared: str = "the base"
) -> list[Path]:
    """Three panels against training step (score at α = 1, cross-validated score, mean TuCo),
    one line per group or task, the base's score as a dashed horizontal line of the same colour;
    on the score panel a step's marker is filled where it differs significantly from ``compared``
    and open where it does not. A panel no row has a value for (lm-eval runs: no α sweep, no
    TuCo) is left out."""
    panels = [(field, label) for field, label in SERIES_PANELS
              if field == "score" or any(np.isfinite(getattr(line, field)).any() for line in series)]
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    handles = _series_handles(series, palette, compared)
    legend_columns = min(len(handles), 2 * len(panels))  # two entries per panel's width
    legend_rows = math.ceil(len(handles) / legend_columns)
    height = 3.6 + 0.22 * legend_rows
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), height), squeeze=False)
    fig.subplots_adjust(left=0.18 / len(panels), right=1 - 0.12 / len(panels), top=1 - 0.7 / height,
                        bottom=(0.75 + 0.22 * legend_rows) / height, wspace=0.28)  # fmt: skip
    for ax, (field, label) in zip(axes.flat, panels, strict=True):
        scale = 1.0 if field == "tuco" else 100.0
        for i, line in enumerate(series):
            color = palette[i % len(palette)]
            ax.plot(line.steps, scale * getattr(line, field), marker="o", markersize=3.5,
                    color=color, label=line.name)  # fmt: skip
            if field == "score" and line.significant is not None:
                shown = np.asarray(line.significant, dtype=bool)
                ax.plot(line.steps[~shown], scale * line.score[~shown], linestyle="none", marker="o",
                        markersize=6, markerfacecolor="white", color=color)  # fmt: skip
                ax.plot(line.steps[shown], scale * line.score[shown], linestyle="none", marker="o",
                        markersize=6, color=color)  # fmt: skip
            if field != "tuco" and line.base is not None:
                ax.axhline(scale * line.base, color=color, linestyle="--", linewidth=1, alpha=0.8)
        ax.set_title(label.format(metric=metric_name(metric)), fontsize=10)
        ax.set_xlabel("training step", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    fig.legend(handles=handles, loc="lower center", ncol=legend_columns, fontsize=8,
               bbox_to_anchor=(0.5, 0.02 / height))  # fmt: skip
    fig.suptitle(title, fontsize=12, y=1 - 0.12 / height)
    return save_figure(fig, stem)

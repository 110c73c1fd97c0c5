"""Report pages for a RUN_DIR swept in several modes: a comparison table and accuracy-vs-α plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tuco_eval import plots, tables
from tuco_eval.cv import CV_FORMAT
from tuco_eval.mode_cv import (
    MODES_FILE,
    _fingerprint,
    cross_validate_modes,
    modes_table,
    shared_mode_metric,
)
from tuco_eval.mode_store import mode_roots

_SETTINGS = ("folds", "objective", "seed", "metric", "n_boot")


def load_modes_cv(run_dir: Path) -> dict:
    """RUN_DIR/modes.json, recomputed (same settings) when missing or older than any mode's store."""
    try:
        result = json.loads((run_dir / MODES_FILE).read_text())
        settings = {key: result["config"][key] for key in _SETTINGS}
        settings["filter"] = result["config"].get("filter")
        fresh = result["config"]["fingerprint"] == _fingerprint(mode_roots(run_dir))
        fresh = fresh and result["config"].get("format") == CV_FORMAT  # older layouts: redo
    except (OSError, ValueError, KeyError, TypeError):
        return cross_validate_modes(run_dir)
    return result if fresh else cross_validate_modes(run_dir, **settings)


def _slug(text: str) -> str:
    from tuco_eval.report import _slug as slug

    return slug(text)


def mode_panels(result: dict) -> list[tuple[str, list[plots.Curve]]]:
    """One panel per task, one curve per mode, the per-mode α choices of every fold as stars."""
    return [
        (
            task,
            [
                plots.curve_from(mode, result["per_mode"][mode]["tasks"][task])
                for mode in result["config"]["modes"]
            ],
        )
        for task in result["tasks"]
    ]


def write_mode_reports(run_dirs: Sequence[Path], out_dir: Path) -> list[Path]:
    """modes_<label>.{md,csv} and accuracy_vs_alpha_modes_<label>[_k].{png,svg} per multi-mode RUN_DIR."""
    files: list[Path] = []
    for run_dir in map(Path, run_dirs):
        if len(mode_roots(run_dir)) < 2:
            continue
        result = load_modes_cv(run_dir)
        cfg, name = result["config"], _slug(result["config"]["label"])
        metric = shared_mode_metric(result) or "score"  # tasks of different metrics: a neutral name
        headers, rows = modes_table(result)
        md = out_dir / f"modes_{name}.md"
        md.write_text(
            f"# Scaling modes compared: {cfg['label']}\n\n{_note(cfg, metric)}\n\n"
            + tables.markdown(headers, rows)
        )
        csv = out_dir / f"modes_{name}.csv"
        csv.write_text(tables.csv_text(headers, rows))
        files += [md, csv]
        panels = mode_panels(result)
        chunks = [panels[i : i + plots.MAX_PANELS] for i in range(0, len(panels), plots.MAX_PANELS)]
        for i, chunk in enumerate(chunks):
            suffix = f"_{i + 1}" if len(chunks) > 1 else ""
            files += plots.accuracy_vs_alpha(
                chunk,
                f"{cfg['label']}: {plots.metric_name(metric)} versus α, one line per mode",
                metric,
                out_dir / f"accuracy_vs_alpha_modes_{name}{suffix}",
            )
    return files


def _note(cfg: dict, metric: str) -> str:
    return (
        f"Each mode's α is cross-validated on the same {cfg['folds']} folds (seed {cfg['seed']}); "
        f"'CV (Δ)' is the {plots.metric_name(metric)} at the chosen α (×100) and its gain "
        f"over α = 1. 'a - b' is the mean per-doc difference of the two modes' CV scores in points, "
        f"* = paired sign-flip p < {cfg['significance_level']}."
    )

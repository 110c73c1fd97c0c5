"""Report pages for a RUN_DIR swept in several modes: a comparison table and accuracy-vs-α plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tuco_eval import plots, tables
from tuco_eval.cv import load_cached
from tuco_eval.modes.cv import (
    MODES_FILE,
    cross_validate_modes,
    modes_fingerprint,
    modes_table,
    shared_mode_metric,
)
from tuco_eval.modes.store import mode_roots


def load_modes_cv(run_dir: Path) -> dict:
    """RUN_DIR/modes.json, recomputed (same settings) when missing or older than any mode's store."""
    return load_cached(
        run_dir / MODES_FILE,
        modes_fingerprint(mode_roots(run_dir)),
        lambda **settings: cross_validate_modes(run_dir, **settings),
        key="fingerprint",
    )


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


def write_mode_reports(runs: Sequence[tuple[Path, str]], out_dir: Path) -> list[Path]:
    """modes_<stem>.{md,csv} and accuracy_vs_alpha_modes_<stem>[_k].{png,svg} per multi-mode
    RUN_DIR of ``runs`` (RUN_DIR, its row's unique file stem: `jsonl.file_stems`)."""
    files: list[Path] = []
    for run_dir, name in runs:
        if len(mode_roots(run_dir)) < 2:
            continue
        result = load_modes_cv(Path(run_dir))
        cfg = result["config"]
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

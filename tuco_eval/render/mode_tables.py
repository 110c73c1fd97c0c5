"""Report pages for a RUN_DIR swept in several modes: a comparison table and accuracy-vs-α plots,
and the table `tuco-eval cv` prints for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tuco_eval.analysis.mode_comparison import MODES_FILE, cross_validate_modes, modes_fingerprint
from tuco_eval.analysis.run_cv import load_cached, row_metric, shared_metric
from tuco_eval.render import plots, tables
from tuco_eval.render.cv_tables import points
from tuco_eval.stats.multiplicity import benjamini_hochberg
from tuco_eval.store.run_json import mode_roots


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
    RUN_DIR of ``runs`` (RUN_DIR, its row's unique file stem: `files.file_stems`)."""
    files: list[Path] = []
    for run_dir, name in runs:
        if len(mode_roots(run_dir)) < 2:
            continue
        result = load_modes_cv(Path(run_dir))
        cfg = result["config"]
        metric = shared_metric(result) or "score"  # tasks of different metrics: a neutral name
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
        f"* = paired sign-flip p, after Benjamini–Hochberg across every task and pair of modes, "
        f"< {cfg['significance_level']}."
    )


def modes_table(result: Mapping) -> tuple[list[str], list[list[str]]]:
    """Per task: each mode's CV score (Δ CV vs its α=1), then each pair's difference (* = significant)."""
    modes = result["config"]["modes"]
    metric = shared_metric(result)
    per_row = metric is None  # tasks scored with different metrics: a metric column
    pair_names = list(next(iter(result["tasks"].values()))["pairs"]) if result["tasks"] else []
    headers = ["Task", "n", *(["metric"] if per_row else []), f"{metric} α=1" if metric else "α=1"]
    headers += [*(f"{m} CV (Δ)" for m in modes), *pair_names, "best"]
    rows = []
    level = result["config"]["significance_level"]
    tested = [p for r in result["tasks"].values() for p in r["pairs"].values()]
    adjusted = dict(zip(map(id, tested), benjamini_hochberg([p["p_value"] for p in tested]), strict=True))
    for task, r in result["tasks"].items():
        first = r["modes"][modes[0]]
        cells = [
            f"{points(r['modes'][m]['acc_cv'])} ({points(r['modes'][m]['delta_cv'], True)})"
            for m in modes
        ]
        pairs = [
            f"{points(p['diff'], True)}{'*' if p['better'] and adjusted[id(p)] < level else ''} "
            f"(p {p['p_value']:.3f})"
            for p in r["pairs"].values()
        ]
        metric_cell = [row_metric(result, r)] if per_row else []
        rows.append(
            [task, str(r["n"]), *metric_cell, points(first["acc_alpha1"]), *cells, *pairs, r["best"]]
        )
    return headers, rows


def format_modes_table(result: Mapping) -> str:
    """The Markdown table printed by `tuco-eval cv` for a RUN_DIR with several modes."""
    cfg = result["config"]
    note = (
        f"{cfg['label']}: modes {', '.join(cfg['modes'])} with the same {cfg['folds']} folds "
        f"(seed {cfg['seed']}); values x100; 'a - b' = mean per-doc difference of CV scores, "
        f"* = paired sign-flip p, after Benjamini–Hochberg across every task and pair of modes, "
        f"< {cfg['significance_level']}"
    )
    return "\n".join([note, "", tables.markdown(*modes_table(result))])

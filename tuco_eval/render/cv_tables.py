"""The tables of a cv.json result: per task and per group, as `tuco-eval cv` prints them and the
report writes them (values x100, gains in points)."""

from __future__ import annotations

from collections.abc import Mapping

from tuco_eval.analysis.group_figures import MEAN_LABEL, WEIGHTED_LABEL
from tuco_eval.analysis.run_cv import row_metric, shared_metric
from tuco_eval.render import tables
from tuco_eval.util.params import format_alpha


def points(value: float, signed: bool = False) -> str:
    """A share or a gain in points (x100, two decimals; `signed`: with its sign)."""
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def _metric_columns(result: Mapping) -> tuple[list[str], bool]:
    # one metric: it names the value columns (as before); several: a metric column per row
    metric = shared_metric(result)
    return ([f"{metric} α=1", f"{metric} CV"], False) if metric else (["α=1", "CV"], True)


def task_table(result: Mapping) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the per-task table (values x100: accuracy in %, gains in points);
    a ``metric`` column when the rows use different metrics."""
    values, per_row = _metric_columns(result)
    headers = ["Task", "n", *(["metric"] if per_row else []), *values]
    headers += ["Δ CV", "95% CI", "p", "α per fold"]
    rows = [
        [
            task,
            str(r["n"]),
            *([row_metric(result, r)] if per_row else []),
            points(r["acc_alpha1"]),
            points(r["acc_cv"]),
            points(r["delta_cv"], signed=True) + ("*" if r["significant"] else ""),
            f"[{points(r['ci95'][0], True)}, {points(r['ci95'][1], True)}]",
            f"{r['p_value']:.4f}",
            " ".join(format_alpha(a) for a in r["alphas_chosen"]),
        ]
        for task, r in result["tasks"].items()
    ]
    return headers, rows


def group_table(result: Mapping) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the per-group table: the mean over tasks and, where the group's YAML
    weights by size, lm-eval's size-weighted figure on a second row."""
    values, per_row = _metric_columns(result)
    headers = ["Group", "figure", "tasks", *(["metric"] if per_row else []), *values]
    headers += ["Δ CV", "significant"]
    rows = []
    for group, g in result["groups"].items():
        metric = [row_metric(result, g)] if per_row else []
        figures = [(MEAN_LABEL, g, f"{100 * g['share_significant']:.0f}%")]
        if g.get("weighted_by_size"):
            figures.append((WEIGHTED_LABEL, g["weighted_by_size"], "–"))
        for label, figure, significant in figures:
            rows.append(
                [
                    group,
                    label,
                    str(g["n_tasks"]),
                    *metric,
                    points(figure["acc_alpha1"]),
                    points(figure["acc_cv"]),
                    points(figure["delta_cv"], signed=True),
                    significant,
                ]
            )
    return headers, rows


def metric_description(result: Mapping) -> str:
    """'metric acc' when every row shares one, else which metrics the rows use."""
    metric = shared_metric(result)
    if metric:
        return f"metric {metric}"
    used = sorted({row_metric(result, r) for r in result["tasks"].values()})
    return f"each task's own metric ({', '.join(used)}; column metric)"


def format_table(result: Mapping) -> str:
    """The Markdown tables printed by `tuco-eval cv` (tasks, then groups when there are any)."""
    cfg = result["config"]
    direction = "higher" if cfg["objective"] == "max" else "lower"
    note = (
        f"{cfg['label']}: {cfg['folds']}-fold CV (seed {cfg['seed']}), {metric_description(result)} "
        f"({direction} is better), values x100; * = significant (α-permutation test of the whole CV, p < {cfg['significance_level']})"
    )
    if cfg.get("filter"):
        note += f"; filter {cfg['filter']} of tasks with several"
    parts = [note, "", tables.markdown(*task_table(result))]
    if result["groups"]:
        parts += ["", tables.markdown(*group_table(result))]
    return "\n".join(parts)

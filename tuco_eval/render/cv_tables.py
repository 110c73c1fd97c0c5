"""The tables of a cv.json result: per task and per group, as `tuco-eval cv` prints them and the
report writes them (values x100, gains in points)."""

from __future__ import annotations

from tuco_eval.records.cv_json import CVResult, GroupRow, TaskRow
from tuco_eval.render import tables
from tuco_eval.util.params import format_alpha

MEAN_LABEL = "mean over tasks"  # the paper's group figure
WEIGHTED_LABEL = "weighted by size (as lm-eval)"  # lm-eval's, for groups that weight by size


def points(value: float, signed: bool = False) -> str:
    """A share or a gain in points (x100, two decimals; `signed`: with its sign)."""
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def interval_text(ci, delta: float, p: float | None, significance: float = 0.05, digits: int = 2) -> str:
    """A 95 % interval in points (``digits`` decimals); a bound at 0 that the test closed (p below
    the level: it lies beyond 0, by less than the rounding) is open there: "(0, +3.10]"."""
    low, high = (0.0 if abs(x) < 1e-12 else x for x in ci)  # no "-0.00" from summation order
    shown = p is not None and p < significance
    left = "(0" if shown and delta > 0 and low == 0 else f"[{100 * low:+.{digits}f}"
    right = "0)" if shown and delta < 0 and high == 0 else f"{100 * high:+.{digits}f}]"
    return f"{left}, {right}"


def detectable_text(row: TaskRow | GroupRow) -> str:
    """The smallest E[Δ_CV] (points) the test finds with 80 % power after the correction."""
    mde = row.correction.mde if row.correction else None
    return "–" if mde is None else f"≥ {100 * mde:.2f}"


def star(row: TaskRow | GroupRow) -> str:
    """"*" where the row is significant (after the correction, when the result carries it)."""
    return "*" if row.significant else ""


def _adjusted(row: TaskRow | GroupRow) -> str:
    return f"{row.correction.p_adjusted:.2g}" if row.correction else "–"


def _metric_columns(result: CVResult) -> tuple[list[str], bool]:
    # one metric: it names the value columns (as before); several: a metric column per row
    metric = result.shared_metric()
    return ([f"{metric} α=1", f"{metric} CV"], False) if metric else (["α=1", "CV"], True)


def task_table(result: CVResult) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the per-task table (values x100: accuracy in %, gains in points);
    a ``metric`` column when the rows use different metrics."""
    values, per_row = _metric_columns(result)
    headers = ["Task", "n", *(["metric"] if per_row else []), *values]
    headers += ["Δ CV", "95% CI of E[Δ CV]", "p", "p adj.", "detectable", "α per fold"]
    rows = [
        [
            task,
            str(r.n),
            *([result.row_metric(task)] if per_row else []),
            points(r.acc_alpha1),
            points(r.acc_cv),
            points(r.delta_cv, signed=True) + star(r),
            interval_text(r.ci95, r.delta_cv, r.p_value),
            f"{r.p_value:.2g}",
            _adjusted(r),
            detectable_text(r),
            " ".join(format_alpha(a) for a in r.alphas_chosen),
        ]
        for task, r in result.tasks.items()
    ]
    return headers, rows


def group_table(result: CVResult) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the per-group table: the mean over tasks and, where the group's YAML
    weights by size, lm-eval's size-weighted figure on a second row."""
    values, per_row = _metric_columns(result)
    headers = ["Group", "figure", "tasks", *(["metric"] if per_row else []), *values]
    headers += ["Δ CV", "95% CI of E[Δ CV]", "p adj.", "detectable", "tasks significant"]
    rows = []
    for group, g in result.groups.items():
        metric = [result.row_metric(group)] if per_row else []
        own = [
            interval_text(g.ci95, g.delta_cv, g.p_value) if g.ci95 else "–",
            _adjusted(g),
            detectable_text(g),
            f"{100 * g.share_significant:.0f}%",
        ]
        figures = [(MEAN_LABEL, g, star(g), own)]
        if g.weighted_by_size:
            figures.append((WEIGHTED_LABEL, g.weighted_by_size, "", ["–"] * 4))
        for label, figure, mark, columns in figures:
            rows.append(
                [
                    group,
                    label,
                    str(g.n_tasks),
                    *metric,
                    points(figure.acc_alpha1),
                    points(figure.acc_cv),
                    points(figure.delta_cv, signed=True) + mark,
                    *columns,
                ]
            )
    return headers, rows


def metric_description(result: CVResult) -> str:
    """'metric acc' when every row shares one, else which metrics the rows use."""
    metric = result.shared_metric()
    if metric:
        return f"metric {metric}"
    used = sorted({result.row_metric(name) for name in result.tasks})
    return f"each task's own metric ({', '.join(used)}; column metric)"


def significance_note(correction: str, level: float = 0.05) -> str:
    """The one line every table of stars carries: what a star means (after ``correction``, the
    correction's description) and what an interval covers."""
    return (
        f"* = significant after the correction across tasks ({correction}; p adj. < "
        f"{level}); intervals: 95 %, unadjusted, of E[Δ CV], the expected held-out gain of "
        "choosing α this way at this many docs (below the best α's own gain); detectable: the "
        "smallest E[Δ CV] found with 80 % power after the correction"
    )


def format_table(result: CVResult, correction: str) -> str:
    """The Markdown tables printed by `tuco-eval cv` (tasks, then groups when there are any);
    ``result`` as `significance.corrected_cv` returns it, ``correction`` its description."""
    cfg = result.config
    direction = "higher" if cfg.objective == "max" else "lower"
    note = (
        f"{cfg.label}: {cfg.folds}-fold CV (seed {cfg.seed}), {metric_description(result)} "
        f"({direction} is better), values x100; "
        + significance_note(correction, cfg.significance_level)
    )
    if cfg.filter:
        note += f"; filter {cfg.filter} of tasks with several"
    parts = [note, "", tables.markdown(*task_table(result))]
    if result.groups:
        parts += ["", tables.markdown(*group_table(result))]
    return "\n".join(parts)

"""The demo's findings as the section its report page opens on: behaviour versus α (the figure
inline), Δ_CV of objective max and min with their 95% intervals, TuCo on persona prompts against
plain text, the training run's checkpoints against the base (demo/training_run.py), and the
categories fine-tune's capability in one line (template render/templates/demo_lead.html.j2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

from tuco_eval.demo.summary import behaviour_sentence, cv_task_rows, pct, pts
from tuco_eval.records.cv_json import CVResult
from tuco_eval.render.html_page import Table, render
from tuco_eval.render.html_report import Lead
from tuco_eval.stats.significance import corrected_cv
from tuco_eval.util.params import format_alpha


def _agreement_table(agreement: dict[str, dict[float, float]], grid: tuple[float, ...]) -> Table:
    alphas = sorted({a for values in agreement.values() for a in values})
    headers = ["persona", *(f"α={format_alpha(a)}" + ("" if a in grid else " ·") for a in alphas)]
    rows = [[task.removeprefix("tuco_demo_persona_"), *(pct(values[a]) for a in alphas)]
            for task, values in agreement.items()]
    return Table(headers, rows)


def _cv_table(results: list[CVResult]) -> Table:
    """Per persona and objective: Δ_CV, its interval and p, starred after the correction across all."""
    headers = ["persona", "objective", "α = 1 (%)", "CV (%)", "Δ_CV (pts)", "95% CI of E[Δ_CV] (pts)", "p",
               "p adj.", "α per fold"]
    return Table(headers, [row for cv in corrected_cv(results) for row in cv_task_rows(cv)])


def _tuco(tuco: dict[str, Any]) -> dict[str, float]:
    first, second = list(tuco["means"])[:2]
    return {"first": tuco["means"][first], "second": tuco["means"][second], "auc": tuco["auc"]}


def _capability(categories: dict | None) -> dict[str, Any] | None:
    if categories is None:
        return None
    accuracy = categories["accuracy"]
    cat = next(iter(categories["cv"].tasks.values()))
    return {"at_zero": pct(accuracy[0.0]), "at_one": pct(accuracy[1.0]), "delta": pts(cat.delta_cv),
            "low": pts(cat.ci95[0]), "high": pts(cat.ci95[1]), "tuco": _tuco(categories["tuco"])}


def _training(training: dict | None) -> dict[str, Any] | None:
    if training is None:
        return None
    from tuco_eval.demo.training_run import findings

    found = findings(training["board"])
    figure = training["figure"]
    return {"sentences": found["sentences"], "table": Table(found["headers"], found["rows"]),
            "figure": figure.read_text() if figure.is_file() else None}


def demo_lead(persona: dict, categories: dict | None, grid: tuple[float, ...], figure: Path,
              training: dict | None = None) -> Lead:
    """The lead section from the demo's parts (categories, training: None when not run); `figure`
    is the persona-versus-α SVG."""
    html = render(
        "demo_lead.html.j2",
        where=persona["where"],
        behaviour=behaviour_sentence(persona["agreement"], grid),
        figure=figure.read_text(),
        agreement=_agreement_table(persona["agreement"], grid),
        cv=_cv_table([persona["cv_max"], persona["cv_min"]]),
        persona_tuco=_tuco(persona["tuco"]),
        capability=_capability(categories),
        training=_training(training),
    )
    return Lead("What the demo shows", Markup(html), heading="tuco-eval demo")

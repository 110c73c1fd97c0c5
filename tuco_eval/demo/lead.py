"""The demo's findings as the section its report page opens on: behaviour versus α (the figure
inline), Δ_CV of objective max and min with their 95% intervals, TuCo on persona prompts against
plain text, and the categories fine-tune's capability in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuco_eval.demo.summary import behaviour_sentence, cv_task_rows, pct, pts
from tuco_eval.render.html_page import esc, svg_figure, table
from tuco_eval.render.html_report import Lead
from tuco_eval.util.params import format_alpha


def _agreement_table(agreement: dict[str, dict[float, float]], grid: tuple[float, ...]) -> str:
    alphas = sorted({a for values in agreement.values() for a in values})
    headers = ["persona", *(f"α={format_alpha(a)}" + ("" if a in grid else " ·") for a in alphas)]
    rows = [[task.removeprefix("tuco_demo_persona_"), *(pct(values[a]) for a in alphas)]
            for task, values in agreement.items()]
    return table(headers, rows, "lead-agreement")


def _cv_table(results: list[dict]) -> str:
    headers = ["persona", "objective", "α = 1 (%)", "CV (%)", "Δ_CV (pts)", "95% CI (pts)", "p", "α per fold"]
    rows = [row for cv in results for row in cv_task_rows(cv)]
    return table(headers, rows, "lead-cv")


def _tuco_sentence(tuco: dict[str, Any], positive: str) -> str:
    means = tuco["means"]
    first, second = list(means)[:2]
    return (f"Mean TuCo (share of the final representation written by fine-tuning, α = 1) on "
            f"{esc(positive)}: <b>{means[first]:.3f}</b>, on plain text: <b>{means[second]:.3f}</b>; "
            f"ROC AUC of TuCo separating them: <b>{tuco['auc']:.3f}</b>.")


def _capability(categories: dict | None) -> list[str]:
    if categories is None:
        return []
    accuracy = categories["accuracy"]
    cat = next(iter(categories["cv"]["tasks"].values()))
    return [
        "<h3>Capability: the categories fine-tune</h3>",
        f"<p>Accuracy {pct(accuracy[0.0])} % at α = 0 (base) and {pct(accuracy[1.0])} % at α = 1 "
        f"(fine-tuned); Δ_CV {pts(cat['delta_cv'])} points, 95% CI "
        f"[{pts(cat['ci95'][0])}, {pts(cat['ci95'][1])}]. "
        f"{_tuco_sentence(categories['tuco'], 'task prompts')}</p>",
    ]


def demo_lead(persona: dict, categories: dict | None, grid: tuple[float, ...], figure: Path) -> Lead:
    """The lead section from the demo's parts (categories: None when not run); `figure` is the
    persona-versus-α SVG."""
    body = "".join([
        f'<p class="note">{esc(persona["where"])}. Agreement with the persona (%) on held-out '
        "statements; α = 1 is the fine-tune as is, α = 0 the base's blocks; columns marked · lie "
        "outside the paper's grid and are not cross-validated. The full write-up is "
        '<a href="../summary.md">summary.md</a>; the generic leaderboard follows below.</p>',
        "<h3>Behaviour as a function of α</h3>",
        f"<p>{esc(behaviour_sentence(persona['agreement'], grid))}</p>",
        '<div class="figures">', svg_figure(figure.read_text(), "agreement with the persona versus α"), "</div>",
        f'<div class="scroll">{_agreement_table(persona["agreement"], grid)}</div>',
        "<h3>Cross-validated α: amplify (max) and suppress (min) the behaviour</h3>",
        '<p class="note">5 folds over the held-out docs; Δ_CV = agreement at the chosen α minus '
        "agreement at α = 1, in points, with its paired-bootstrap 95% interval; * = significant "
        "(sign-flip p &lt; 0.05).</p>",
        f'<div class="scroll">{_cv_table([persona["cv_max"], persona["cv_min"]])}</div>',
        "<h3>TuCo: persona prompts against plain text</h3>",
        f"<p>{_tuco_sentence(persona['tuco'], 'persona prompts')}</p>",
        *_capability(categories),
    ])
    return Lead("What the demo shows", body, heading="tuco-eval demo")

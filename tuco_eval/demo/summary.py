"""The demo's summary.md: the findings first (behaviour and capability versus α), then the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuco_eval.records.cv_json import CVResult
from tuco_eval.render import tables
from tuco_eval.render.cv_tables import interval_text
from tuco_eval.stats.significance import corrected_cv
from tuco_eval.util.files import atomic_write_text
from tuco_eval.util.params import format_alpha


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def pts(value: float) -> str:
    return f"{100 * value:+.1f}"


def alpha_table(by_task: dict[str, dict[float, float]], grid: tuple[float, ...]) -> str:
    """Accuracy (%) per task and α; the α outside the paper's grid are marked."""
    alphas = sorted({a for values in by_task.values() for a in values})
    headers = ["task", *(f"α={format_alpha(a)}" + ("" if a in grid else " ·") for a in alphas)]
    rows = [[task.removeprefix("tuco_demo_persona_"), *(pct(values[a]) for a in alphas)]
            for task, values in by_task.items()]
    if len(by_task) > 1:
        rows.append(["**mean**", *(pct(sum(v[a] for v in by_task.values()) / len(by_task)) for a in alphas)])
    return tables.markdown(headers, rows)


def cv_task_rows(cv: CVResult) -> list[list[str]]:
    """Per task of one cv.json (after `significance.corrected_cv`): persona, objective, α=1, CV,
    Δ_CV (* significant after the correction), 95% CI of E[Δ_CV], p, adjusted p, α per fold."""
    objective = cv.config.objective
    return [[task.removeprefix("tuco_demo_persona_"), objective, pct(r.acc_alpha1), pct(r.acc_cv),
             pts(r.delta_cv) + ("*" if r.significant else ""),
             interval_text(r.ci95, r.delta_cv, r.p_value, digits=1), f"{r.p_value:.3f}",
             f"{r.correction.p_adjusted:.3f}" if r.correction else "–",
             " ".join(format_alpha(a) for a in r.alphas_chosen)]
            for task, r in cv.tasks.items()]


def cv_table(results: list[CVResult]) -> str:
    """Δ_CV with its 95% interval and p per task and objective, then the mean per objective; the
    stars after the correction across every task of ``results`` (Benjamini–Hochberg)."""
    headers = ["task", "objective", "α=1", "CV", "Δ_CV (pts)", "95% CI of E[Δ_CV]", "p", "p adj.", "α per fold"]
    rows = []
    for cv in corrected_cv(results):
        objective = cv.config.objective
        rows += cv_task_rows(cv)
        for group, g in cv.groups.items():
            rows.append([f"**{group} (mean)**", objective, pct(g.acc_alpha1), pct(g.acc_cv),
                         pts(g.delta_cv) + ("*" if g.significant else ""),
                         interval_text(g.ci95, g.delta_cv, g.p_value, digits=1) if g.ci95 else "",
                         f"{g.p_value:.3f}" if g.p_value is not None else "",
                         f"{g.correction.p_adjusted:.3f}" if g.correction else "",
                         f"{100 * g.share_significant:.0f}% of tasks significant"])
    return tables.markdown(headers, rows)


def tuco_line(tuco: dict[str, Any]) -> str:
    means = ", ".join(f"{name} {mean:.3f}" for name, mean in tuco["means"].items())
    first, second = list(tuco["means"])[:2]
    return (f"mean TuCo: {means}; ROC AUC of TuCo separating {first} from {second}: "
            f"**{tuco['auc']:.3f}** (1 = every {first.removesuffix('s')} above every passage).")


def behaviour_sentence(agreement: dict[str, dict[float, float]], grid: tuple[float, ...]) -> str:
    """What the mean agreement does across the paper's grid, in words, whatever it does."""
    low, high = min(grid), max(grid)
    mean = {a: sum(v[a] for v in agreement.values()) / len(agreement) for a in grid}
    span = max(mean.values()) - min(mean.values())
    trend = "rises" if mean[high] > mean[low] else "falls" if mean[high] < mean[low] else "ends where it starts,"
    return (f"Across the paper's grid the mean agreement {trend} from {pct(mean[low])} % at "
            f"α = {format_alpha(low)} to {pct(mean[high])} % at α = {format_alpha(high)} "
            f"(range {pct(span)} points; {pct(mean[1.0])} % at α = 1, the fine-tune as is).")


def capability_section(categories: dict | None, grid: tuple[float, ...]) -> str:
    """Part 3 of summary.md, or how to run it."""
    if categories is None:
        return ("## 3. Capability: not run\n\n`tuco-eval demo --capability` adds the categories "
                "fine-tune: accuracy from the base (α = 0) to the fine-tune, its CV and TuCo.\n")
    cats = categories["cv"].tasks
    cat = next(iter(cats.values()))
    return f"""## 3. Capability follows α: the categories fine-tune

{categories['where']}. Accuracy (%) on held-out "Is <thing> a kind of <category>?" questions:

{alpha_table({name: categories['accuracy'] for name in cats}, grid)}

Δ_CV {pts(cat.delta_cv)} points, 95% CI [{pts(cat.ci95[0])}, {pts(cat.ci95[1])}],
α per fold {" ".join(format_alpha(a) for a in cat.alphas_chosen)}. {tuco_line(categories['tuco'])}

![accuracy from the base](report/accuracy_from_base.png)
"""


def write_summary(out_dir: Path, persona: dict, categories: dict | None, settings: Any,
                  minutes: float, training: str = "") -> Path:
    """Write out_dir/summary.md and return its path (categories: None when that part did not
    run; training: part 2's Markdown, demo.training_run.summary_section)."""
    grid = tuple(settings.alphas)
    text = f"""# tuco-eval demo

Fine-tuned = base + α × fine-tuning component, block by block (α = 1: the fine-tune as is,
α = 0: the base's blocks). Columns marked · lie outside the paper's grid and are not
cross-validated. Whole run: {minutes:.1f} min.

## 1. Behaviour follows α: the persona fine-tune

{persona['where']}. Agreement with the persona (%, lm-eval's persona `acc`) on held-out
statements (the `eval` split of `tuco_eval/demo/personas/`; the persona adapter trained on the
other split):

{alpha_table(persona['agreement'], grid)}

{behaviour_sentence(persona['agreement'], grid)}

![agreement versus α](report/persona_vs_alpha.png)

Cross-validated α (5 folds over the held-out docs; Δ_CV = agreement at the chosen α minus
agreement at α = 1, points; `max` amplifies the behaviour, `min` suppresses it, so its gain is
negative; * = significant after Benjamini–Hochberg across the table's tasks (false discovery
rate 5 %); p: the α-permutation test, the whole CV rerun; the interval is of E[Δ_CV], the
expected held-out gain of choosing α this way on this many docs, from resampled documents):

{cv_table([persona['cv_max'], persona['cv_min']])}

TuCo (share of the final representation written by fine-tuning, α = 1) — {tuco_line(persona['tuco'])}

{training}
{capability_section(categories, grid)}
## Files

- `run-persona/` (CV max in `cv.json`), `run-persona-min/` (the same sweep, CV min),
  `run/` (categories, with `--capability`): sweep RUN_DIRs; `tuco-eval cv`, `report` read them.
  `*-from-base/`: the α below the grid, for the pictures.
- `training-run/`: the ROOT of the checkpoint series (`checkpoints.json`, `base/`, `step-8/`,
  `step-16/`, `step-24/`) and its report (`training-run/report/`).
- `tuco-persona.jsonl`, `tuco.jsonl` (`--capability`): TuCo per prompt.
- `report/`: leaderboard, per-task tables and plots of the runs.
"""
    path = out_dir / "summary.md"
    atomic_write_text(path, text)
    return path

"""`tuco-eval demo`: TuCo measured, α swept, 5-fold cross-validated, a report on disk — real pairs.

The offline pairs are SmolLM2-135M-Instruct (base, a real model) and the same model with one of
this project's LoRA adapters (fine-tuned): the persona adapter (behaviour: agreement with three
persona datasets moves with α) and the categories adapter (capability: accuracy from the base at
α = 0 to the fine-tune at α = 1; opt-in, `capability=True`). Offline, the persona adapter's
training checkpoints are also benchmarked against the base as a series (demo/training_run.py).
`--pair smollm2-hub` runs the persona and capability parts on the published pair
SmolLM2-135M -> SmolLM2-135M-Instruct from the Hub instead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import PAPER_ALPHAS

if TYPE_CHECKING:
    from tuco_eval.records.cv_json import CVResult, TaskRow
    from tuco_eval.sweeps.settings import EvalSettings

PAIRS = ("offline", "smollm2-hub")
TASK = "tuco_demo_categories"
PERSONA_GROUP = "tuco_demo_personas"


@dataclass(frozen=True)
class Settings:
    n_eval: int  # docs of the categories task
    n_persona: int  # held-out docs per persona task
    n_prompts: int  # prompts per TuCo set
    alphas: tuple[float, ...]
    batch_size: int
    from_base: tuple[float, ...]  # α below the grid, for the picture only (not cross-validated)
    persona_from_base: tuple[float, ...]  # the same for the persona tasks (longer prompts: fewer)


# sized for `make demo` within 10 minutes on two CPU cores with the install: the persona sweep and
# the training run's 2 × 21 units of 30 docs dominate (step 24's are the persona sweep's; docs/
# performance.md, "Demo cost"); n_eval, from_base: the categories part, `--capability` only
FULL = Settings(
    n_eval=100,
    n_persona=30,
    n_prompts=24,
    alphas=PAPER_ALPHAS,
    batch_size=25,
    from_base=(0.0, 0.5),
    persona_from_base=(0.0,),
)
# the CI test's size: 3 α of the grid plus the base, 10 docs per persona (2 per CV fold)
QUICK = Settings(n_eval=20, n_persona=10, n_prompts=8, alphas=(0.9, 1.0, 1.1), batch_size=20,
                 from_base=(0.0,), persona_from_base=(0.0,))


@dataclass(frozen=True)
class DemoPair:
    pair: Any
    where: str  # one line for the console
    model_args: str  # recorded in run.json
    label: str  # the checkpoint's name in tables and plots


def load_demo_pair(name: str, device: str, adapter: str = "categories") -> DemoPair:
    """The named demo pair; offline, `adapter` picks the LoRA adapter (categories or persona)."""
    from tuco_eval.core.pair import load_pair

    if name == "offline":
        from tuco_eval.demo.assets import ADAPTERS, fetch_base

        folder, gguf = fetch_base()
        adapter_dir = ADAPTERS[adapter]
        pair = load_pair(str(adapter_dir), str(folder), base_gguf_file=gguf, device=device)
        return DemoPair(
            pair,
            f"base SmolLM2-135M-Instruct from {folder / gguf}; fine-tuned = base + LoRA adapter {adapter_dir}",
            f"pretrained={adapter_dir},base={folder},base_gguf_file={gguf}",
            f"SmolLM2-135M-Instruct + {adapter} LoRA",
        )
    if name == "smollm2-hub":
        ft, base = "HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M"
        pair = load_pair(ft, base, device=device)
        return DemoPair(pair, f"base {base}, fine-tuned {ft} (Hugging Face Hub)",
                        f"pretrained={ft},base={base}", "SmolLM2-135M-Instruct")
    raise TucoError(f"unknown demo pair {name!r}: choose one of {', '.join(PAIRS)}")


def measure_tuco(pair: Any, sets: dict[str, list[str]], batch_size: int, path: Path) -> dict[str, Any]:
    """TuCo on each prompt set (the first is the positive one); means and the AUC of the first two."""
    from tuco_eval.core.tuco import compute_tuco
    from tuco_eval.experiments.summary import auc, values_by_set
    from tuco_eval.util.jsonl import write_jsonl_atomic

    rows = []
    for name, texts in sets.items():
        results = compute_tuco(pair.joint, pair.tokenizer, texts, batch_size=batch_size)
        rows += [{"set": name, "id": i, "text": t, **r}
                 for i, (t, r) in enumerate(zip(texts, results, strict=True))]
    write_jsonl_atomic(path, rows)
    values = values_by_set(rows, "tuco")
    means = {name: sum(v) / len(v) for name, v in values.items()}
    first, second = list(sets)[:2]
    return {"rows": rows, "means": means, "auc": auc(values[first], values[second])}


def print_tuco(tuco: dict[str, Any], positive: str) -> None:
    for name, mean in tuco["means"].items():
        print(f"      mean TuCo, {name}: {mean:.4f}")
    print(f"      ROC AUC of TuCo, {positive} (positive) versus plain text: {tuco['auc']:.3f}")


def accuracy_by_alpha(run_dir: Path, task: str) -> dict[float, float]:
    """Mean accuracy of `task` at each α stored in `run_dir`."""
    from tuco_eval.store.units import score_matrix

    matrix = score_matrix(run_dir, task)
    return {float(a): float(row.mean()) for a, row in zip(matrix.alphas, matrix.scores, strict=True)}


def run_demo(
    out_dir: str | Path = "tuco-demo",
    quick: bool = False,
    pair_name: str = "offline",
    device: str = "cpu",
    capability: bool = False,
) -> dict[str, Any]:
    """The whole demo; returns what it measured and the files it wrote.

    Parts: the persona fine-tune; offline, its training run (checkpoints 8, 16, 24 against the
    base); with `capability`, the categories fine-tune (its accuracy is saturated on the paper's
    grid, so it shows α from the base rather than a finding on the grid; opt-in for time).
    """
    from tuco_eval.demo.summary import write_summary

    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # the demo shows its own progress
    started, cpu_started = time.time(), cpu_seconds()
    settings, out_dir = QUICK if quick else FULL, Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluation = eval_settings(settings)  # one task index for every part
    loaded: dict[str, DemoPair] = {}
    steps = 3 + (pair_name == "offline") + capability

    def load(adapter: str) -> DemoPair:  # the Hub pair serves both parts: load it once
        key = adapter if pair_name == "offline" else pair_name
        if key not in loaded:
            loaded.clear()  # one pair in memory at a time
            loaded[key] = load_demo_pair(pair_name, device, adapter)
        print(f"      {loaded[key].where}")
        return loaded[key]

    step = iter(range(1, steps + 1))
    print(f"[{next(step)}/{steps}] behaviour: the persona fine-tune ({pair_name}) ...", flush=True)
    demo = load("persona")
    tuco = persona_tuco(demo, settings, out_dir)
    with lower_blocks_reused(demo, pair_name):
        persona = persona_part(demo, settings, evaluation, out_dir, tuco)
        training = None
        if pair_name == "offline":  # the shipped checkpoints are adapters on the offline base
            print(f"[{next(step)}/{steps}] a training run: the persona adapter's checkpoints against the base ...",
                  flush=True)
            from tuco_eval.demo.training_run import training_run_part

            # the base of part 1 serves the series; its last checkpoint is part 1's adapter: reused
            training = training_run_part(settings, out_dir, device, evaluation, demo.pair, persona["run_dir"])
    categories = None
    if capability:
        print(f"[{next(step)}/{steps}] capability: the categories fine-tune ({pair_name}) ...", flush=True)
        categories = categories_part(load("categories"), settings, evaluation, out_dir)
    print(f"[{next(step)}/{steps}] writing the report", flush=True)
    from tuco_eval.demo.lead import demo_lead
    from tuco_eval.pipeline.report import report

    figure = out_dir / "report" / "persona_vs_alpha.svg"
    lead = demo_lead(persona, categories, tuple(settings.alphas), figure, training)
    runs = [persona["run_dir"]] + ([categories["run_dir"]] if categories else [])
    files = report(runs, out_dir / "report", lead=lead)
    files += persona["files"] + (training["files"] if training else []) + (categories["files"] if categories else [])
    minutes = (time.time() - started) / 60
    from tuco_eval.demo.training_run import summary_section

    summary = write_summary(out_dir, persona, categories, settings, minutes, summary_section(training))
    cpu_minutes = (cpu_seconds() - cpu_started) / 60
    print(f"[{next(step)}/{steps}] done in {minutes:.1f} min ({cpu_minutes:.1f} CPU-minutes); files in "
          f"{out_dir / 'report'}:")
    for path in files:
        print(f"      {path}")
    if not capability:
        print("      (`tuco-eval demo --capability` adds the categories fine-tune: accuracy from the base)")
    print(f"The findings: open {out_dir / 'report' / 'index.html'} (or read {summary})")
    return {"persona": persona, "training": training, "categories": categories, "files": [summary, *files],
            "minutes": minutes, "cpu_minutes": cpu_minutes}


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) and of the children it waited for."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def lower_blocks_reused(demo: DemoPair, pair_name: str) -> AbstractContextManager:
    """Offline, every model of parts 1 and 2 is the base with a LoRA adapter on its upper blocks
    only: the blocks below compute once per batch for every α and checkpoint (core/block_reuse.py)."""
    if pair_name != "offline":
        return nullcontext()
    from tuco_eval.core.block_reuse import leading_blocks, reuse_block_outputs
    from tuco_eval.core.layers import find_blocks
    from tuco_eval.demo.assets import PERSONA_ADAPTER_DIR, PERSONA_CHECKPOINTS_DIR

    folders = [PERSONA_ADAPTER_DIR, *PERSONA_CHECKPOINTS_DIR.glob("checkpoint-*")]
    configs = [json.loads((folder / "adapter_config.json").read_text()) for folder in folders]
    return reuse_block_outputs(leading_blocks(find_blocks(demo.pair.model), configs))


def eval_settings(settings: Settings) -> EvalSettings:
    """lm-eval's settings of every demo sweep: the demo's tasks, sized by `settings` (metadata)."""
    from tuco_eval.sweeps.settings import EvalSettings, task_manager_for

    metadata = {"demo_n": settings.n_eval, "demo_persona_n": settings.n_persona}
    return EvalSettings(task_manager_for([PERSONA_GROUP, TASK], metadata=metadata))


def _sweeps(demo: DemoPair, tasks: list[str], settings: Settings, evaluation: EvalSettings, run_dir: Path,
            from_base: tuple[float, ...]) -> dict[str, dict[float, float]]:
    """The paper's grid into `run_dir`, the α below it into `run_dir`-from-base; per task {α: acc}."""
    from tuco_eval.harness.tuco_scaled import TucoScaledLM
    from tuco_eval.sweeps.alphas import sweep

    lm = TucoScaledLM.from_pair(demo.pair, batch_size=settings.batch_size, device=str(demo.pair.model.device))
    info = sweep(lm, tasks, run_dir, settings=evaluation, alphas=settings.alphas,
                 model_args=demo.model_args, label=demo.label)
    # α below the paper's grid, in a RUN_DIR of its own: the CV stays on the paper's grid
    wide = run_dir.with_name(run_dir.name + "-from-base")
    sweep(lm, tasks, wide, settings=evaluation, alphas=from_base,
          model_args=demo.model_args, label=demo.label, progress=False)
    return {t: {**accuracy_by_alpha(wide, t), **accuracy_by_alpha(run_dir, t)} for t in info.tasks}


def persona_tuco(demo: DemoPair, settings: Settings, out_dir: Path) -> dict[str, Any]:
    """TuCo on held-out persona prompts and on plain text (measure_tuco)."""
    from tuco_eval.demo.personas import PERSONAS, persona_docs, prompt
    from tuco_eval.demo.plain_text import plain_text_prompts

    per_persona = -(-settings.n_prompts // len(PERSONAS))
    sets = {"persona prompts": [prompt(d) for name in PERSONAS
                                for d in persona_docs(name, "eval")[:per_persona]],
            "plain text": plain_text_prompts(settings.n_prompts)}
    print(f"      TuCo on {len(sets['persona prompts'])} held-out persona prompts and "
          f"{len(sets['plain text'])} plain-text passages")
    tuco = measure_tuco(demo.pair, sets, settings.batch_size, out_dir / "tuco-persona.jsonl")
    print_tuco(tuco, "persona prompts")
    return tuco


def persona_part(demo: DemoPair, settings: Settings, evaluation: EvalSettings, out_dir: Path,
                 tuco: dict[str, Any]) -> dict[str, Any]:
    """Behaviour: agreement versus α, CV that maximises and minimises it (`tuco`: persona_tuco's)."""
    from tuco_eval.analysis.run_cv import cross_validate
    from tuco_eval.render.cv_tables import format_table
    from tuco_eval.stats.multiplicity import CORRECTIONS, DEFAULT_CORRECTION
    from tuco_eval.stats.significance import corrected_cv

    run_dir = out_dir / "run-persona"
    print(f"      α sweep {list(settings.alphas)} over {settings.n_persona} held-out docs of each "
          f"persona task ({PERSONA_GROUP}), then 5-fold CV: objective max, then min")
    agreement = _sweeps(demo, [PERSONA_GROUP], settings, evaluation, run_dir, settings.persona_from_base)
    cv_max = cross_validate(run_dir, folds=5, objective="max")
    # the same sweep cross-validated to suppress the behaviour, as its own ordinary RUN_DIR
    min_dir = out_dir / "run-persona-min"
    shutil.rmtree(min_dir, ignore_errors=True)
    shutil.copytree(run_dir, min_dir, ignore=shutil.ignore_patterns("cv.json", "*.lock"))
    cv_min = cross_validate(min_dir, folds=5, objective="min")
    for corrected in corrected_cv([cv_max, cv_min]):  # the stars after the correction across both
        print(format_table(corrected, CORRECTIONS[DEFAULT_CORRECTION]))
    files = plot_persona(agreement, cv_max, cv_min, demo.label, out_dir / "report" / "persona_vs_alpha")
    files += _histogram(tuco, demo.label, out_dir / "report" / "tuco_histogram_persona")
    return {"label": demo.label, "where": demo.where, "tuco": tuco, "agreement": agreement,
            "cv_max": cv_max, "cv_min": cv_min, "run_dir": run_dir, "min_dir": min_dir, "files": files}


def categories_part(demo: DemoPair, settings: Settings, evaluation: EvalSettings, out_dir: Path) -> dict[str, Any]:
    """Capability: TuCo on category questions, accuracy from α = 0 through the grid, CV."""
    from tuco_eval.analysis.run_cv import cross_validate
    from tuco_eval.demo.plain_text import plain_text_prompts
    from tuco_eval.demo.task import demo_docs, prompt
    from tuco_eval.render.cv_tables import format_table
    from tuco_eval.stats.multiplicity import CORRECTIONS, DEFAULT_CORRECTION
    from tuco_eval.stats.significance import corrected_cv

    sets = {"task prompts": [prompt(d) for d in demo_docs(settings.n_prompts, "eval", seed=1)],
            "plain text": plain_text_prompts(settings.n_prompts)}
    print(f"      TuCo on {settings.n_prompts} held-out task prompts and {settings.n_prompts} plain-text passages")
    tuco = measure_tuco(demo.pair, sets, settings.batch_size, out_dir / "tuco.jsonl")
    print_tuco(tuco, "task prompts")
    run_dir = out_dir / "run"
    print(f"      α sweep {list(settings.alphas)} over {settings.n_eval} docs of {TASK}, then 5-fold CV")
    accuracy = _sweeps(demo, [TASK], settings, evaluation, run_dir, settings.from_base)[TASK]
    cv = cross_validate(run_dir, folds=5)
    print(format_table(corrected_cv([cv])[0], CORRECTIONS[DEFAULT_CORRECTION]))
    print(f"      accuracy at α = 0 (the base's blocks): {100 * accuracy[0.0]:.1f}%, at α = 1 "
          f"(fine-tuned): {100 * accuracy[1.0]:.1f}%")
    files = plot_from_base(accuracy, cv.tasks[TASK], demo.label, out_dir / "report" / "accuracy_from_base")
    files += _histogram(tuco, demo.label, out_dir / "report" / "tuco_histogram")
    return {"label": demo.label, "where": demo.where, "tuco": tuco, "accuracy": accuracy, "cv": cv,
            "run_dir": run_dir, "files": files}


def _histogram(tuco: dict[str, Any], label: str, stem: Path) -> list[Path]:
    from tuco_eval.experiments.plots import histograms

    stem.parent.mkdir(parents=True, exist_ok=True)
    return histograms(tuco["rows"], label, stem, metrics=("tuco",))


def _curve(label: str, values: dict[float, float], cv_task: TaskRow | None) -> Any:
    import numpy as np

    from tuco_eval.render.plots import Curve

    alphas = sorted(values)
    chosen = tuple(cv_task.alphas_chosen) if cv_task else ()
    return Curve(label, np.array(alphas), np.array([values[a] for a in alphas]), chosen=chosen,
                 delta=cv_task.delta_cv if cv_task else None)


def plot_from_base(
    accuracy: dict[float, float], cv_task: TaskRow, label: str, stem: Path
) -> list[Path]:
    """Accuracy from α = 0 (the base's blocks) through the paper's grid, CV choices starred."""
    from tuco_eval.render.plots import accuracy_vs_alpha

    stem.parent.mkdir(parents=True, exist_ok=True)
    title = "accuracy from the base (α = 0) to fine-tuned (α = 1)"
    return accuracy_vs_alpha([(TASK, [_curve(label, accuracy, cv_task)])], title, "acc", stem)


def plot_persona(agreement: dict[str, dict[float, float]], cv_max: CVResult, cv_min: CVResult, label: str,
                 stem: Path) -> list[Path]:
    """Agreement with each persona versus α (base at α = 0), with the α that CV max and CV min chose."""
    from tuco_eval.render.plots import accuracy_vs_alpha

    stem.parent.mkdir(parents=True, exist_ok=True)
    panels = [(task.removeprefix("tuco_demo_persona_"),
               [_curve("CV maximises the behaviour", values, cv_max.tasks[task]),
                _curve("CV minimises (suppresses) it", values, cv_min.tasks[task])])
              for task, values in agreement.items()]
    title = f"{label}: agreement with the persona versus α"
    return accuracy_vs_alpha(panels, title, "acc", stem)

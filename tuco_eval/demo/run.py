"""`tuco-eval demo`: TuCo measured, α swept, 5-fold cross-validated, a report on disk — one pair.

The offline pair is SmolLM2-135M-Instruct (base, a real model) and the same model with this
project's LoRA adapter (fine-tuned); `--pair smollm2-hub` uses the published pair
SmolLM2-135M -> SmolLM2-135M-Instruct from the Hub instead.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuco_eval.errors import TucoError

PAIRS = ("offline", "smollm2-hub")
TASK = "tuco_demo_categories"


@dataclass(frozen=True)
class Settings:
    n_eval: int  # docs of the evaluation task
    n_prompts: int  # prompts per TuCo set
    alphas: tuple[float, ...]
    batch_size: int
    from_base: tuple[float, ...]  # α below the grid, for the picture only (not cross-validated)


FULL = Settings(
    n_eval=200,
    n_prompts=48,
    alphas=(0.75, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25),
    batch_size=25,
    from_base=(0.0, 0.25, 0.5),
)
QUICK = Settings(n_eval=30, n_prompts=12, alphas=(0.9, 1.0, 1.1), batch_size=15, from_base=(0.0,))


def load_demo_pair(name: str, device: str) -> tuple[Any, str, str]:
    """(pair, description, model_args string) for the named demo pair."""
    from tuco_eval.pair import load_pair

    if name == "offline":
        from tuco_eval.demo.assets import ADAPTER_DIR, fetch_base

        folder, gguf = fetch_base()
        pair = load_pair(str(ADAPTER_DIR), str(folder), base_gguf_file=gguf, device=device)
        where = f"base SmolLM2-135M-Instruct from {folder / gguf}; fine-tuned = base + LoRA adapter {ADAPTER_DIR}"
        return pair, where, f"pretrained={ADAPTER_DIR},base={folder},base_gguf_file={gguf}"
    if name == "smollm2-hub":
        ft, base = "HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M"
        pair = load_pair(ft, base, device=device)
        return (
            pair,
            f"base {base}, fine-tuned {ft} (Hugging Face Hub)",
            f"pretrained={ft},base={base}",
        )
    raise TucoError(f"unknown demo pair {name!r}: choose one of {', '.join(PAIRS)}")


def measure_tuco(pair: Any, settings: Settings, out_dir: Path) -> dict[str, Any]:
    """TuCo on held-out task prompts versus plain prose; means and the AUC between them."""
    from tuco_eval.demo.plain_text import plain_text_prompts
    from tuco_eval.demo.task import demo_docs, prompt
    from tuco_eval.experiment_summary import auc, values_by_set
    from tuco_eval.jsonl import write_jsonl_atomic
    from tuco_eval.tuco import compute_tuco

    sets = {
        "task prompts": [prompt(d) for d in demo_docs(settings.n_prompts, "eval", seed=1)],
        "plain text": plain_text_prompts(settings.n_prompts),
    }
    rows = []
    for name, texts in sets.items():
        for index, (text, result) in enumerate(
            zip(
                texts,
                compute_tuco(pair.joint, pair.tokenizer, texts, batch_size=settings.batch_size),
                strict=True,
            )
        ):
            rows.append({"set": name, "id": index, "text": text, **result})
    write_jsonl_atomic(out_dir / "tuco.jsonl", rows)
    values = values_by_set(rows, "tuco")
    means = {name: sum(v) / len(v) for name, v in values.items()}
    return {"rows": rows, "means": means, "auc": auc(values["task prompts"], values["plain text"])}


def run_demo(
    out_dir: str | Path = "tuco-demo",
    quick: bool = False,
    pair_name: str = "offline",
    device: str = "cpu",
) -> dict[str, Any]:
    """The whole demo; returns what it measured and the files it wrote."""
    from lm_eval.tasks import TaskManager

    from tuco_eval.cv import cross_validate, format_table
    from tuco_eval.data import tasks_dir
    from tuco_eval.experiment_plots import histograms
    from tuco_eval.lm import TucoScaledLM
    from tuco_eval.report import report
    from tuco_eval.sweep import sweep

    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # the demo shows its own progress
    started, settings, out_dir = time.time(), QUICK if quick else FULL, Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"[1/4] loading the pair ({pair_name}) ...", flush=True)
    pair, where, model_args = load_demo_pair(pair_name, device)
    print(f"      {where}")

    print(
        f"[2/4] TuCo on {settings.n_prompts} held-out task prompts and {settings.n_prompts} plain-text passages"
    )
    tuco = measure_tuco(pair, settings, out_dir)
    for name, mean in tuco["means"].items():
        print(f"      mean TuCo, {name}: {mean:.4f}")
    print(f"      ROC AUC of TuCo, task prompts (positive) versus plain text: {tuco['auc']:.3f}")

    print(
        f"[3/4] α sweep {list(settings.alphas)} over {settings.n_eval} docs of {TASK}, then 5-fold CV"
    )
    lm = TucoScaledLM.from_pair(pair, batch_size=settings.batch_size, device=device)
    task_manager = TaskManager(
        include_path=str(tasks_dir()), include_defaults=False, metadata={"demo_n": settings.n_eval}
    )
    run_dir = out_dir / "run"
    label = (
        "SmolLM2-135M-Instruct + demo LoRA" if pair_name == "offline" else "SmolLM2-135M-Instruct"
    )
    sweep(
        lm,
        [TASK],
        run_dir,
        alphas=settings.alphas,
        task_manager=task_manager,
        model_args=model_args,
        label=label,
    )
    cv = cross_validate(run_dir, folds=5)
    print(format_table(cv))
    # α below the paper's grid, in a RUN_DIR of their own: the CV above stays on the paper's grid
    wide_dir = out_dir / "run-from-base"
    sweep(lm, [TASK], wide_dir, alphas=settings.from_base, task_manager=task_manager,
          model_args=model_args, label=label, progress=False)
    accuracy = {**accuracy_by_alpha(wide_dir), **accuracy_by_alpha(run_dir)}
    print(f"      accuracy at α = 0 (the base's blocks): {100 * accuracy[0.0]:.1f}%, at α = 1 "
          f"(fine-tuned): {100 * accuracy[1.0]:.1f}%")

    print("[4/4] writing the report")
    files = report([run_dir], out_dir / "report")
    files += plot_from_base(accuracy, cv["tasks"][TASK], label, out_dir / "report" / "accuracy_from_base")
    files += histograms(tuco["rows"], label,
                        out_dir / "report" / "tuco_histogram", metrics=("tuco",))
    minutes = (time.time() - started) / 60
    print(f"done in {minutes:.1f} min; report in {out_dir / 'report'}:")
    for path in files:
        print(f"      {path}")
    return {"tuco": tuco, "cv": cv, "files": files, "minutes": minutes}


def accuracy_by_alpha(run_dir: Path) -> dict[float, float]:
    """Mean accuracy of the demo task at each α stored in `run_dir`."""
    from tuco_eval.store import score_matrix

    matrix = score_matrix(run_dir, TASK)
    return {float(a): float(row.mean()) for a, row in zip(matrix.alphas, matrix.scores, strict=True)}


def plot_from_base(
    accuracy: dict[float, float], cv_task: dict[str, Any], label: str, stem: Path
) -> list[Path]:
    """Accuracy from α = 0 (the base's blocks) through the paper's grid, CV choices starred."""
    import numpy as np

    from tuco_eval.plots import Curve, accuracy_vs_alpha

    alphas = sorted(accuracy)
    curve = Curve(label, np.array(alphas), np.array([accuracy[a] for a in alphas]),
                  chosen=tuple(cv_task["alphas_chosen"]), delta=cv_task["delta_cv"])
    title = "accuracy from the base (α = 0) to fine-tuned (α = 1)"
    return accuracy_vs_alpha([(TASK, [curve])], title, "acc", stem)

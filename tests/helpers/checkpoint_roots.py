"""ROOT folders as a multi-checkpoint sweep writes them (the contract in docs/formats.md): the base's
RUN_DIR, one RUN_DIR per checkpoint and checkpoints.json, built with tuco_eval.store.units's writers
from fixed numbers, so that every score, TuCo and paired test has a value counted by hand."""

from __future__ import annotations

import json
from pathlib import Path

from tuco_eval.store import doc_texts, run_json
from tuco_eval.store import units as store

N = 40  # docs per task
ALPHAS = (0.9, 1.0, 1.1)
GROUPS = {"grp_ab": ["ta", "tb"], "grp_c": ["tc"]}
# docs 0..k-1 right at α = 1 (so every better row gets the worse row's docs right, and more):
# base 8, step-100 10, step-200 20, step-300 35 on ta; tb the same minus 2; tc is graded
RIGHT = {"base": 8, "step-100": 10, "step-200": 20, "step-300": 35}
STEPS = {"step-100": 100, "step-200": 200, "step-300": 300}
TUCO = {"step-100": 0.10, "step-200": 0.20, "step-300": 0.30}  # + 0.001 × doc_id


def right_at(label: str, task: str, alpha: float) -> int:
    """Docs right at α: α = 0.9 two fewer, α = 1.1 three more (so CV picks 1.1 in every fold)."""
    k = RIGHT[label] - (2 if task == "tb" else 0)
    return k + {0.9: -2, 1.0: 0, 1.1: 3}[alpha]


def graded(label: str, doc: int, alpha: float) -> float:
    """Task tc: a score in {0, 0.5, 1} per doc (not 0/1: the sign-flip test applies)."""
    return 1.0 if doc < right_at(label, "ta", alpha) else (0.5 if doc % 3 == 0 else 0.0)


def records(label: str, task: str, alpha: float, n: int = N, tuco: bool = True) -> list[dict]:
    out = []
    for i in range(n):
        value = graded(label, i, alpha) if task == "tc" else float(i < right_at(label, task, alpha))
        record = {"doc_id": i, "doc_hash": f"{task}-{i}", "acc": value}
        if tuco and alpha == 1.0 and label in TUCO:
            record["tuco"] = TUCO[label] + 0.001 * i
        if label == "base":  # a stray field: the base alone has no TuCo, its row must say null
            record["tuco"] = 0.0
        out.append(record)
    return out


def write_run(run_dir: Path, label: str, info: dict, alphas=ALPHAS, n: int = N, tuco: bool = True) -> Path:
    for task in ("ta", "tb", "tc"):
        for alpha in alphas:
            store.write_unit(run_dir, alpha, task, records(label, task, alpha, n, tuco))
        doc_texts.write_docs(run_dir, task, [{"doc_id": i, "prompt": f"{task} question {i}?"} for i in range(n)])
    base = {"alphas": list(alphas), "tasks": ["ta", "tb", "tc"], "groups": GROUPS}
    run_json.update_run_info(run_dir, {**base, **info})
    return run_dir


def build_root(root: Path, base: bool = True, base_docs: int = N) -> Path:
    """ROOT with the base (unless `base` is False) and step-100, step-200, step-300."""
    checkpoints = []
    for label, step in STEPS.items():
        record = {"label": label, "source": f"runs/sft/checkpoint-{step}", "revision": None,
                  "step": step, "kind": "adapter"}
        write_run(root / label, label, {"model_args": f"pretrained=runs/sft/checkpoint-{step},base=org/pt",
                                        "label": label, "checkpoint": record})
        checkpoints.append({**record, "run_dir": label})
    series = {"format": 1, "checkpoints": checkpoints}
    if base:
        write_run(root / "base", "base", {"model_args": "pretrained=org/pt", "label": "base", "kind": "base",
                                          "checkpoint": {"label": "base", "source": "org/pt", "revision": None,
                                                         "step": None, "kind": "base"}},
                  alphas=(1.0,), n=base_docs)
        series["base"] = {"label": "base", "source": "org/pt", "revision": None, "run_dir": "base"}
    (root / "checkpoints.json").write_text(json.dumps(series, indent=2))
    return root

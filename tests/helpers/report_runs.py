"""Stores for the report built from fixed numbers, no model: two checkpoints' runs over paper α's
(`build_run`, `CORRECT`), a run whose docs flip as known (`build_flip_run`, a hostile prompt
included), a synthetic persona store for the demo's lead section (`persona_store`), an
experiment's records (`experiment_records`) and a leaderboard run with intervals by hand
(`interval_run`). Used by the report tests and scripts/page_screenshots.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tuco_eval.records.cv_json import CV_FORMAT, CVConfig, CVResult, GroupRow, GroupTest, TaskRow
from tuco_eval.records.report import Run
from tuco_eval.store import doc_texts, run_json
from tuco_eval.store import units as store
from tuco_eval.util.params import PAPER_ALPHAS

# ---- two checkpoints, three groups of tasks ----------------------------------------------------

N_DOCS = 100
GROUPS = {
    "tuco_mmlu_humanities": ["h1", "h2"],
    "tuco_mmlu_stem": ["s1"],
    "tuco_extra": ["x1"],
}
# correct docs at each alpha (docs 0..k-1 are correct, so a larger k wins on every doc);
# alphas not listed get 30 correct
CORRECT = {
    "ckpt-A": {"h1": {1.0: 50, 1.1: 70}, "h2": {1.0: 60}, "s1": {0.9: 45, 1.0: 40}, "x1": {}},
    "ckpt-B": {
        "h1": {0.75: 55, 1.0: 50},
        "h2": {1.0: 60, 1.25: 90},
        "s1": {1.0: 40, 1.05: 20},
        "x1": {},
    },
}


def build_run(run_dir: Path, label: str, groups: dict | None = GROUPS) -> Path:
    for task, correct in CORRECT[label].items():
        for alpha in PAPER_ALPHAS:
            k = correct.get(alpha, 30) if correct else 50  # x1: every alpha alike
            docs = [
                {"doc_id": i, "doc_hash": f"{task}-{i}", "acc": float(i < k)} for i in range(N_DOCS)
            ]
            store.write_unit(run_dir, alpha, task, docs)
    info = {
        "model_args": f"pretrained=org/{label}",
        "label": label,
        "alphas": list(PAPER_ALPHAS),
        "tasks": list(CORRECT[label]),
    }
    run_json.update_run_info(run_dir, {**info, "groups": groups or {}})
    return run_dir


# ---- a run with known flips ------------------------------------------------------------------

FLIP_DOCS = 12
HOSTILE = '<script>window.hacked = 1</script> & "quotes" <b>bold</b>'
# correct docs per alpha of task "flip": at alpha 1 docs 0-5; alpha 1.1 fixes 6, 7, 8 and breaks
# 4, 5; alpha 0 (base blocks) fixes 9 and breaks 0, 1, 2; alpha 0.9 changes nothing
FLIP_RIGHT = {0.0: {3, 4, 5, 9}, 0.9: {0, 1, 2, 3, 4, 5}, 1.0: {0, 1, 2, 3, 4, 5}, 1.1: {0, 1, 2, 3, 6, 7, 8}}
FLIP_CHOICES = [" yes", " no"]


def build_flip_run(run_dir):
    """A store where known docs flip; doc 0's prompt is hostile markup (it must show as text)."""
    for alpha, right in FLIP_RIGHT.items():
        records = []
        for i in range(FLIP_DOCS):
            target = i % 2
            picked = target if i in right else 1 - target  # the model's answer: the likelier choice
            lls = [-1.0, -2.0] if picked == 0 else [-2.0, -1.0]
            records.append({"doc_id": i, "doc_hash": f"h{i}", "acc": float(i in right), "loglikelihoods": lls})
        store.write_unit(run_dir, alpha, "flip", records)
    docs = [
        {"doc_id": i, "prompt": HOSTILE if i == 0 else f"question {i}?", "choices": FLIP_CHOICES, "target": i % 2}
        for i in range(FLIP_DOCS)
    ]
    doc_texts.write_docs(run_dir, "flip", docs)
    run_json.update_run_info(
        run_dir,
        {"model_args": "pretrained=org/flipper", "label": "flipper", "alphas": sorted(FLIP_RIGHT), "tasks": ["flip"]},
    )
    return run_dir


# ---- an experiment's records -------------------------------------------------------------------


def experiment_records(n=10):
    rng = np.random.default_rng(0)
    records = []
    for name, shift in (("web", 0.0), ("chat", 0.3)):
        for i in range(n):
            ptc = rng.uniform(1, 2, size=4)
            ftc = rng.uniform(0, 1, size=4) + shift
            text = HOSTILE if i == 0 else f"{name} prompt {i}"
            records.append({"set": name, "id": i, "text": text, "tuco": float(rng.uniform(0, 0.5) + shift),
                            "outputco": float(rng.uniform(0, 1)), "per_layer_ptc_l1": ptc.tolist(),
                            "per_layer_ftc_l1": ftc.tolist()})
    return records


# ---- the demo's persona store ------------------------------------------------------------------

PERSONA_RIGHT = {0.75: 20, 0.9: 24, 0.95: 26, 1.0: 28, 1.05: 30, 1.1: 33, 1.25: 36}  # of 40 docs


def persona_store(run_dir):
    """Two synthetic persona tasks whose agreement rises with α (one steeply, one barely)."""
    for task, slope in (("tuco_demo_persona_narcissism", 1), ("tuco_demo_persona_calm", 0)):
        for alpha, k in PERSONA_RIGHT.items():
            right = k if slope else 30 + int(alpha > 1)
            store.write_unit(run_dir, alpha, task, [{"doc_id": i, "doc_hash": f"{task}{i}",
                                                    "acc": float(i < right)} for i in range(40)])
    run_json.update_run_info(run_dir, {"model_args": "pretrained=synthetic", "label": "synthetic persona",
                                    "alphas": sorted(PERSONA_RIGHT), "tasks": []})
    return run_dir


# ---- a leaderboard run with intervals by hand --------------------------------------------------


def interval_run(objective: str, sign: float) -> Run:
    """Tasks a (Δ 0.04, CI ±0.0196) and b (Δ 0.02, CI ±0.0392), groups "both" (Δ 0.03, its own
    interval [0.0081, 0.0519], significant) and "only_b" (Δ 0.02, [-0.0192, 0.0592]); for "min"
    every Δ and interval mirrored."""
    def ci(low: float, high: float) -> list[float]:
        return sorted([sign * low, sign * high])

    tasks = {"a": {"delta_cv": sign * 0.04, "ci95": ci(0.0204, 0.0596)},
             "b": {"delta_cv": sign * 0.02, "ci95": ci(-0.0192, 0.0592)}}
    for row in tasks.values():
        row.update(significant=False, n=100, acc_alpha1=0.5, acc_cv=0.5 + row["delta_cv"], p_value=0.5,
                   alphas_chosen=[1.0], acc_by_alpha={"1": 0.5})
    groups = {"both": {"delta_cv": sign * 0.03, "tasks": ["a", "b"], "ci95": ci(0.0081, 0.0519),
                       "significant": True, "p_value": 0.001},
              "only_b": {"delta_cv": sign * 0.02, "tasks": ["b"], "ci95": ci(-0.0192, 0.0592),
                         "significant": False, "p_value": 0.4}}
    config = CVConfig(format=CV_FORMAT, folds=5, objective=objective, seed=0, metric="acc", metrics=["acc"],
                      n_boot=1000, filter=None, cluster_key=None, significance_level=0.05, label="hand",
                      model_args=None, store_fingerprint="")
    cv = CVResult(
        config=config,
        tasks={name: TaskRow(**row, metric="acc") for name, row in tasks.items()},
        groups={name: group_row(g["tasks"], g["delta_cv"], GroupTest(g["ci95"], g["p_value"], g["significant"],
                                                                     se=0.01, null_sd=0.01, n_draws=1000))
                for name, g in groups.items()},
    )
    return Run(label="hand", run_dir=None, cv=cv)


def group_row(members: list[str], delta_cv: float, inference: GroupTest | None) -> GroupRow:
    return GroupRow(n_tasks=len(members), acc_alpha1=0.5, acc_cv=0.5 + delta_cv, delta_cv=delta_cv,
                    share_significant=0.0, tasks=members, weighted_by_size=None, metric="acc",
                    inference=inference)

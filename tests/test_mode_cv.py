"""Modes compared by cross-validation on synthetic stores where one mode is known to be better."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tuco_eval.analysis.mode_comparison import compare_modes_scores, cross_validate_modes
from tuco_eval.pipeline.report import report
from tuco_eval.stats.cv import CVError, cross_validate_scores, fold_test_indices, out_of_fold
from tuco_eval.store import run_json
from tuco_eval.store import units as store
from tuco_eval.store.run_json import mode_root, mode_roots

ALPHAS = [0.5, 1.0, 1.5]
N = 80


def _scores(seed: int, gain: float) -> np.ndarray:
    """acc per (α, doc): α = 1.5 turns a share `gain` of α = 1's wrong answers right (seeded)."""
    rng = np.random.default_rng(seed)
    at_one = (rng.random(N) < 0.5).astype(float)
    better = np.where((at_one == 0) & (rng.random(N) < gain), 1.0, at_one)
    worse = np.where(rng.random(N) < 0.2, 0.0, at_one)
    return np.stack([worse, at_one, better])


def _write_mode(run_dir, mode, scores, task="t1"):
    root = mode_root(run_dir, mode)
    run_json.update_run_info(root, {"model_args": "pretrained=ft,base=pt", "label": "ft" if root == run_dir else f"ft [{mode}]",
                                 "alphas": ALPHAS, "tasks": [task], "groups": {}})
    for alpha, row in zip(ALPHAS, scores, strict=True):
        store.write_unit(root, alpha, task, [{"doc_id": d, "doc_hash": f"h{d}", "acc": float(v)}
                                             for d, v in enumerate(row)])


@pytest.fixture()
def run_dir(tmp_path):
    run = tmp_path / "run"
    base = _scores(0, 0.0)  # same α = 1 answers in every mode: α = 1 is the fine-tuned model
    _write_mode(run, "activation", np.stack([base[0], base[1], _scores(0, 0.6)[2]]))
    _write_mode(run, "logits", base)  # α never helps
    _write_mode(run, "weights", np.stack([base[0], base[1], _scores(0, 0.2)[2]]))
    return run


def test_out_of_fold_scores_each_doc_at_the_alpha_its_fold_chose():
    scores = _scores(3, 0.4)
    chosen, per_doc = out_of_fold(scores, np.array(ALPHAS), 5, 7, "max")
    folds = fold_test_indices(scores.shape[1], 5, 7)
    for test, best in zip(folds, chosen, strict=True):
        train = np.setdiff1d(np.arange(scores.shape[1]), test)
        assert best == int(np.argmax(scores[:, train].mean(axis=1)))  # no ties in these scores
        assert np.array_equal(per_doc[test], scores[best, test])
    assert per_doc.mean() == pytest.approx(cross_validate_scores(scores, ALPHAS, folds=5, seed=7)["acc_cv"])


def test_known_better_mode_wins_with_a_significant_paired_difference(run_dir):
    assert list(mode_roots(run_dir)) == ["activation", "logits", "weights"]
    result = cross_validate_modes(run_dir, folds=5, seed=0)
    task = result.tasks["t1"]
    assert task["best"] == "activation"
    assert {m["acc_alpha1"] for m in task["modes"].values()} == {task["modes"]["logits"]["acc_alpha1"]}
    versus = task["pairs"]["activation - logits"]
    assert versus["diff"] > 0.15 and versus["significant"] and versus["better"] == "first"
    assert versus["ci95"][0] > 0
    assert task["pairs"]["activation - weights"]["diff"] > 0
    assert task["modes"]["logits"]["delta_cv"] <= 0
    # each mode's own cv.json, with the same folds: per-mode acc_cv agrees
    for mode, root in mode_roots(run_dir).items():
        own = json.loads((root / "cv.json").read_text())["tasks"]["t1"]
        assert own["acc_cv"] == pytest.approx(task["modes"][mode]["acc_cv"])
    assert json.loads((run_dir / "modes.json").read_text())["tasks"]["t1"]["best"] == "activation"


@pytest.mark.parametrize("seed", [12, 13, 14])
def test_pure_noise_between_modes_is_not_significant(seed):
    # two modes of independent coin flips (400 docs): a real but small, insignificant difference
    rng = np.random.default_rng(seed)
    a, b = ((rng.random((3, 400)) < 0.5).astype(float) for _ in range(2))
    matrices = {m: store.ScoreMatrix(np.array(ALPHAS), np.arange(400), s) for m, s in (("a", a), ("b", b))}
    pair = compare_modes_scores(matrices, folds=5, seed=0)["pairs"]["a - b"]
    acc = [cross_validate_scores(s, ALPHAS, folds=5, seed=0)["acc_cv"] for s in (a, b)]
    assert pair["diff"] == pytest.approx(acc[0] - acc[1]) and pair["diff"] != 0
    assert abs(pair["diff"]) < 0.1 and pair["ci95"][0] < 0 < pair["ci95"][1]
    assert pair["p_value"] > 0.05 and not pair["significant"]


def test_identical_modes_differ_by_exactly_nothing():
    same = (np.random.default_rng(11).random((3, 60)) < 0.5).astype(float)
    matrices = {m: store.ScoreMatrix(np.array(ALPHAS), np.arange(60), same) for m in ("a", "b")}
    pair = compare_modes_scores(matrices, folds=5, seed=0)["pairs"]["a - b"]
    assert pair["diff"] == 0 and pair["p_value"] == 1 and not pair["significant"] and pair["better"] is None


def test_modes_over_different_docs_are_refused():
    scores = _scores(1, 0.3)
    matrices = {"a": store.ScoreMatrix(np.array(ALPHAS), np.arange(N), scores),
                "b": store.ScoreMatrix(np.array(ALPHAS), np.arange(1, N + 1), scores)}
    with pytest.raises(CVError, match="different docs"):
        compare_modes_scores(matrices)


def test_cv_command_and_report_show_the_modes(run_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # this checkout
    done = subprocess.run([sys.executable, "-m", "tuco_eval", "cv", str(run_dir), "--folds", "4"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "activation - logits" in done.stdout and "## mode weights" in done.stdout
    assert json.loads((run_dir / "modes.json").read_text())["config"]["folds"] == 4
    files = {p.name for p in report([run_dir], tmp_path / "out")}
    assert {"modes_ft.md", "modes_ft.csv", "accuracy_vs_alpha_modes_ft.png"} <= files
    table = (tmp_path / "out" / "modes_ft.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("|t1"))
    assert "activation CV (Δ)" in table and row.rstrip("| ").endswith("activation")
    # the report reused the 4-fold comparison: fresh against every mode's store
    assert json.loads((run_dir / "modes.json").read_text())["config"]["folds"] == 4

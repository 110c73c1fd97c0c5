"""Speed of the paired tests between checkpoints (`report` over a ROOT), no model.

Builds, in a temporary folder, a ROOT of 6 rows (the base alone and 5 checkpoints at steps
100..500) × 57 tasks × 14,042 docs in all (MMLU's test split) in four groups, α = 1 only (the
pairs use α = 1; `cv` then has one α, so Δ_CV = 0), every fourth task graded (scores 0, 0.5,
1: the sign-flip test) and the rest 0/1 (McNemar). Then times:

* read:       every row's α = 1 records of every task (`checkpoint_board.read_alpha_one`),
* vectorised: the 15 pairs × (57 tasks + 4 groups) as `report` computes them (`paired`),
* one by one: the same numbers pair by pair through the one-sample functions (scipy's
  binomtest, `cv.paired_bootstrap_ci`, `sign_flip.sign_flip_p` per pair; a group's stratified bootstrap
  through `paired.pairs_bootstrap_ci` with one pair at a time), and checks they agree,
* report:     `report ROOT` end to end (cv of the 5 checkpoints, tables, figures, page).

The last line, ``ratio: <float>``, is one-by-one seconds / vectorised seconds.
``--quick``: 4 rows, 10 tasks, 2,000 docs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

from tuco_eval.analysis.checkpoint_board import read_alpha_one
from tuco_eval.pipeline.report import report
from tuco_eval.stats import cv, paired, sign_flip
from tuco_eval.store import run_json
from tuco_eval.store import units as store

GROUPS = ("tuco_mmlu_humanities", "tuco_mmlu_stem", "tuco_mmlu_social_sciences", "tuco_mmlu_other")


def build_root(root: Path, n_rows: int, n_tasks: int, n_docs: int, seed: int = 0) -> list[str]:
    """The base and n_rows - 1 checkpoints whose accuracy rises with the step (seeded)."""
    sizes = np.full(n_tasks, n_docs // n_tasks)
    sizes[: n_docs % n_tasks] += 1
    tasks = [f"mmlu_synthetic_{i:02d}" for i in range(n_tasks)]
    groups = {g: tasks[i :: len(GROUPS)] for i, g in enumerate(GROUPS)}
    labels = ["base", *(f"step-{100 * k}" for k in range(1, n_rows))]
    checkpoints = []
    for row, label in enumerate(labels):
        for t, (task, size) in enumerate(zip(tasks, sizes, strict=True)):
            draw = np.random.default_rng([seed, t, row]).random(size)
            score = (draw < 0.35 + 0.05 * row).astype(float)
            if t % 4 == 3:  # graded: half a point for a near miss
                score = np.where(draw < 0.55 + 0.05 * row, np.maximum(score, 0.5), score)
            records = [
                {"doc_id": i, "doc_hash": f"{task}:{i}", "acc": s, "tuco": 0.05 * row}
                for i, s in enumerate(score.tolist())
            ]
            store.write_unit(root / label, 1.0, task, records)
        info = {"model_args": f"pretrained=synthetic/{label}", "label": label, "alphas": [1.0],
                "tasks": tasks, "groups": groups}  # fmt: skip
        if label == "base":
            info["kind"] = "base"
        else:
            checkpoints.append({"label": label, "source": f"runs/{label}", "revision": None,
                                "step": 100 * row, "kind": "adapter", "run_dir": label})  # fmt: skip
        run_json.update_run_info(root / label, info)
    series = {"format": 1, "base": {"label": "base", "source": "synthetic/pt", "run_dir": "base"},
              "checkpoints": checkpoints}  # fmt: skip
    (root / "checkpoints.json").write_text(json.dumps(series))
    return labels


def read_all(root: Path, labels: list[str]) -> dict[str, np.ndarray]:
    """task → (rows × docs) α = 1 scores."""
    tasks = run_json.read_run_info(root / labels[0])["tasks"]
    return {
        task: np.stack([read_alpha_one(root / label, task, "acc").scores for label in labels])
        for task in tasks
    }


def vectorised(scores: dict[str, np.ndarray], groups: dict[str, list[str]]) -> list:
    out = [paired.task_pairs(s) for s in scores.values()]
    return out + [paired.group_pairs([scores[t] for t in members]) for members in groups.values()]


def one_by_one(scores: dict[str, np.ndarray], groups: dict[str, list[str]]) -> list:
    out = []
    for s in scores.values():
        binary = paired.is_binary(s)
        for a, b in zip(*paired.pair_indices(len(s)), strict=True):
            diff = s[b] - s[a]
            if binary:
                gained, lost = int(np.sum(diff > 0)), int(np.sum(diff < 0))
                p = stats.binomtest(gained, gained + lost, 0.5).pvalue if gained + lost else 1.0
            else:
                p = sign_flip.sign_flip_p(diff)
            out.append((diff.mean(), *cv.paired_bootstrap_ci(diff), p))
    for members in groups.values():
        rows = [scores[t] for t in members]
        sizes = [r.shape[1] for r in rows]
        for a, b in zip(*paired.pair_indices(len(rows[0])), strict=True):
            diff = np.concatenate([r[b] - r[a] for r in rows]) * paired.group_weights(sizes)
            pick = [r[[a, b]] for r in rows]
            low, high = paired.pairs_bootstrap_ci(pick, np.array([0]), np.array([1]))
            out.append((diff.mean(), low[0], high[0], sign_flip.sign_flip_p(diff)))
    return out


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 rows, 10 tasks, 2,000 docs")
    args = parser.parse_args()
    n_rows, n_tasks, n_docs = (4, 10, 2000) if args.quick else (6, 57, 14042)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        build, labels = timed(build_root, root, n_rows, n_tasks, n_docs)
        groups = run_json.read_run_info(root / labels[0])["groups"]
        read, scores = timed(read_all, root, labels)
        fast, results = timed(vectorised, scores, groups)
        slow, reference = timed(one_by_one, scores, groups)
        flat = np.array([(r.diff[k], r.low[k], r.high[k], r.p[k]) for r in results for k in range(len(r.a))])
        reference = np.array(reference)
        tasks = n_tasks * n_rows * (n_rows - 1) // 2  # the task pairs come first
        np.testing.assert_allclose(flat[:tasks], reference[:tasks], rtol=1e-9, atol=1e-12)
        # a group's resamples are drawn in other batches with 2 rows than with all: close, not equal
        np.testing.assert_allclose(flat[tasks:], reference[tasks:], rtol=0, atol=0.01)
        whole, _ = timed(report, [root], Path(tmp) / "report")
    pairs = len(flat)
    print(f"ROOT: {n_rows} rows x {n_tasks} tasks x {n_docs} docs (built in {build:.1f} s); "
          f"{pairs} comparisons ({n_rows * (n_rows - 1) // 2} pairs x {n_tasks} tasks + {len(groups)} groups)")  # fmt: skip
    print(f"read: {read:.2f} s  pairs vectorised: {fast:.2f} s  pairs one by one: {slow:.2f} s  "
          f"report ROOT: {whole:.2f} s")  # fmt: skip
    print(f"ratio: {slow / fast:.2f}")


if __name__ == "__main__":
    main()

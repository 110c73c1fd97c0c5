"""Speed of `cv` and `report` on an MMLU-sized synthetic store (no model).

Builds, in a temporary folder, a store of 57 tasks x 7 alphas x 14,042 docs in all (the size of
MMLU's test split) in four groups, then times:

* read:   reading every task's (alpha x doc) score matrix once (JSON parsing + checksums),
* cv:     `cross_validate` (reads the store again, 5 folds, 2000 bootstrap and permutation draws),
* report: `report` on the fresh cv.json (tables and every PNG/SVG figure).

The last line, ``ratio: <float>``, is (cv seconds + report seconds) / read seconds: how many
plain reads of the store the whole analysis costs, which is roughly independent of the machine.
``--quick`` uses 10 tasks and 2,000 docs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from tuco_eval.analysis import run_cv
from tuco_eval.pipeline.report import report
from tuco_eval.store import run_json
from tuco_eval.store import units as store
from tuco_eval.util.params import PAPER_ALPHAS

GROUPS = ("tuco_mmlu_humanities", "tuco_mmlu_stem", "tuco_mmlu_social_sciences", "tuco_mmlu_other")


def build_store(run_dir: Path, n_tasks: int, n_docs: int, seed: int = 0) -> None:
    """Bernoulli correctness whose rate peaks at a random alpha per task (seeded)."""
    rng = np.random.default_rng(seed)
    sizes = np.full(n_tasks, n_docs // n_tasks)
    sizes[: n_docs % n_tasks] += 1
    tasks = [f"mmlu_synthetic_{i:02d}" for i in range(n_tasks)]
    for task, size in zip(tasks, sizes, strict=True):
        peak, level = rng.choice(PAPER_ALPHAS), rng.uniform(0.3, 0.7)
        for alpha in PAPER_ALPHAS:
            rate = np.clip(level - 2.0 * (alpha - peak) ** 2, 0.05, 0.95)
            correct = rng.random(size) < rate
            records = [
                {
                    "doc_id": i,
                    "doc_hash": f"{task}:{i}",
                    "acc": float(c),
                    "acc_norm": float(c),
                    "loglikelihoods": rng.normal(-2, 1, 4).round(4).tolist(),
                    "tuco": 0.1,
                }
                for i, c in enumerate(correct)
            ]
            store.write_unit(run_dir, alpha, task, records)
    groups = {g: tasks[i :: len(GROUPS)] for i, g in enumerate(GROUPS)}
    info = {
        "model_args": "pretrained=synthetic/ft",
        "alphas": list(PAPER_ALPHAS),
        "tasks": tasks,
        "groups": groups,
    }
    run_json.update_run_info(run_dir, info)


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def read_all(run_dir: Path) -> None:
    for task in run_json.read_run_info(run_dir)["tasks"]:
        store.score_matrix(run_dir, task)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10 tasks, 2,000 docs")
    args = parser.parse_args()
    n_tasks, n_docs = (10, 2000) if args.quick else (57, 14042)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        build = timed(build_store, run_dir, n_tasks, n_docs)
        read = timed(read_all, run_dir)
        cv_s = timed(run_cv.cross_validate, run_dir)
        report_s = timed(report, [run_dir], Path(tmp) / "report")
    print(
        f"store: {n_tasks} tasks x {len(PAPER_ALPHAS)} alphas x {n_docs} docs (built in {build:.2f} s)"
    )
    print(
        f"read: {read:.3f} s  cv: {cv_s:.3f} s  report: {report_s:.3f} s  cv+report: {cv_s + report_s:.3f} s"
    )
    print(f"ratio: {(cv_s + report_s) / read:.2f}")


if __name__ == "__main__":
    main()

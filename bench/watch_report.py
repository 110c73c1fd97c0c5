"""What `tuco-eval watch` pays per checkpoint besides evaluating it: the report rewrite, as the
ROOT grows. No model.

Builds MMLU-shaped ROOTs (bench/pairs_speed.py's: 57 tasks, 14,042 docs, α = 1, the base and
N - 1 checkpoints) of 6, 11 and 21 rows, reports each once (the cv.json of every row cached, as a
watcher's earlier rewrites leave them), then times one more rewrite with the watcher's lead, the
one the watcher makes when a checkpoint starts and again when it ends. Prints seconds per
rewrite per size, and ``ratio: <float>``: the rewrite of 21 rows over that of 6.
``--quick``: 4, 6 and 8 rows of 10 tasks and 2,000 docs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from pairs_speed import build_root  # noqa: E402

from tuco_eval.pipeline.report import report  # noqa: E402
from tuco_eval.records.watch_json import WatchState  # noqa: E402
from tuco_eval.render.watch_lead import watch_lead  # noqa: E402


def rewrite_seconds(folder: Path, n_rows: int, n_tasks: int, n_docs: int) -> float:
    root = folder / f"root{n_rows}"
    labels = build_root(root, n_rows, n_tasks, n_docs)
    state = WatchState(train_dir="runs/sft", evaluated={f"checkpoint-{lab[5:]}": lab for lab in labels[1:]})
    lead = watch_lead(state, present=set())
    report([root], folder / f"report{n_rows}", lead=lead, say=lambda _: None)  # every cv.json cached
    start = time.perf_counter()
    report([root], folder / f"report{n_rows}", lead=lead, say=lambda _: None)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4, 6, 8 rows of 10 tasks, 2,000 docs")
    args = parser.parse_args()
    sizes, n_tasks, n_docs = ((4, 6, 8), 10, 2000) if args.quick else ((6, 11, 21), 57, 14042)
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n_rows in sizes:
            seconds[n_rows] = rewrite_seconds(Path(tmp), n_rows, n_tasks, n_docs)
            print(f"{n_rows} rows x {n_tasks} tasks x {n_docs} docs: report rewrite {seconds[n_rows]:.1f} s "
                  f"({seconds[n_rows] / n_rows:.2f} s per row); twice per checkpoint", flush=True)
    print(f"ratio: {seconds[sizes[-1]] / seconds[sizes[0]]:.2f}")


if __name__ == "__main__":
    main()

"""Peak memory of `tuco-eval report` over MMLU-shaped lm-eval folders, as the number of runs grows.

Writes N `lm_eval --log_samples --output_path` folders of one model family (57 tasks of the
`mmlu` group, 14,042 docs, multiple-choice samples whose lines are the size lm-eval writes for
5-shot MMLU, about 7 KB), then runs `report` over the first n of them in a fresh interpreter
and reads its peak resident memory (ru_maxrss). Prints, per size, the peak, the wall time and
the memory each run adds; last, `ratio: <peak at the largest size / peak at the smallest>`.
``--quick``: 2 and 6 runs of 10 tasks, 1,000 docs. ``--sizes 20,50`` picks the sizes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import parser

DATE_ID = "2026-12-04T12-00-00.000000"
CHOICES = ("A", "B", "C", "D")
MEASURE = """
import resource, sys
from pathlib import Path
from tuco_eval.pipeline.report import report
folders = [Path(p) for p in sys.argv[2:]]
report(folders, Path(sys.argv[1]), say=lambda _: None)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_run(folder: Path, label: str, tasks: list[str], docs: list[int], accuracy: float, seed: int,
              line_bytes: int) -> Path:
    """One lm-eval run folder: results JSON and a samples file per task, lines of `line_bytes`."""
    rng = np.random.default_rng(seed)
    out = folder / label / f"runs__sft__{label}"
    out.mkdir(parents=True)
    shots = "x" * max(0, line_bytes // 4 - 250)  # the 5-shot context each of the 4 requests repeats
    results, configs = {}, {}
    for task, n in zip(tasks, docs, strict=True):
        right = rng.random(n) < accuracy
        with (out / f"samples_{task}_{DATE_ID}.jsonl").open("w", encoding="utf-8") as lines:
            for doc_id in range(n):
                context = f"{shots}\n\nQuestion {doc_id} of {task}?\nAnswer:"
                sample = {
                    "doc_id": doc_id,
                    "doc": {"question": f"Question {doc_id} of {task}?", "subject": task,
                            "choices": ["w", "x", "y", "z"], "answer": 0},
                    "target": 0,
                    "arguments": {f"gen_args_{i}": {"arg_0": context, "arg_1": f" {c}"} for i, c in enumerate(CHOICES)},
                    "resps": [[f"({-1.0 - i - (0 if right[doc_id] else 2 * (i == 0)):.3f}, False)"] for i in range(4)],
                    "filtered_resps": [f"({-1.0 - i:.3f}, False)" for i in range(4)],
                    "filter": "none", "metrics": ["acc"],
                    "doc_hash": f"{hash((task, doc_id)) & (2**64 - 1):064x}",
                    "prompt_hash": f"{hash((task, doc_id, 'p')) & (2**64 - 1):064x}",
                    "target_hash": f"{0:064x}",
                    "acc": float(right[doc_id]),
                }
                lines.write(json.dumps(sample) + "\n")
        mean = float(right.mean())
        results[task] = {"alias": task, "acc,none": mean,
                         "acc_stderr,none": float(np.sqrt(mean * (1 - mean) / max(n - 1, 1)))}
        configs[task] = {"task": task, "output_type": "multiple_choice", "num_fewshot": 5,
                         "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]}
    record = {
        "results": results, "group_subtasks": {"mmlu": tasks}, "configs": configs,
        "versions": {t: 1.0 for t in tasks}, "n-shot": {t: 5 for t in tasks},
        "n-samples": {t: {"original": n, "effective": n} for t, n in zip(tasks, docs, strict=True)},
        "config": {"model": "hf", "model_args": f"pretrained=runs/sft/{label}"},
        "lm_eval_version": "0.4.13",
    }
    path = out / f"results_{DATE_ID}.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    return out.parent


def peak_of_report(folders: list[Path], out: Path) -> tuple[float, float]:
    """(peak resident MB, wall seconds) of one `report` over `folders` in a fresh interpreter."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, str(out), *map(str, folders)],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024, time.perf_counter() - start


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--sizes", default=None, help="comma-separated numbers of runs (default: 5,20; quick: 2,6)")
    args = p.parse_args()
    n_tasks, n_docs = (10, 1000) if args.quick else (57, 14042)
    sizes = sorted(int(s) for s in (args.sizes or ("2,6" if args.quick else "5,20")).split(","))
    tasks = [f"mmlu_subject_{i:02d}" for i in range(n_tasks)]
    docs = [len(part) for part in np.array_split(np.arange(n_docs), n_tasks)]
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        folders = [write_run(Path(tmp), f"step-{100 * (i + 1)}", tasks, docs, 0.5 + 0.01 * i, i, 7000)
                   for i in range(sizes[-1])]
        size = sum(f.stat().st_size for folder in folders for f in folder.rglob("*") if f.is_file())
        print(f"{sizes[-1]} runs x {n_tasks} tasks x {n_docs} docs written ({size / 1e9:.2f} GB of samples)",
              flush=True)
        peaks = {}
        for n in sizes:
            peaks[n], seconds = peak_of_report(folders[:n], Path(tmp) / f"report{n}")
            print(f"report over {n} runs: peak {peaks[n]:.0f} MB, {seconds:.0f} s wall", flush=True)
    slope = (peaks[sizes[-1]] - peaks[sizes[0]]) / max(sizes[-1] - sizes[0], 1)
    print(f"each run adds {slope:.1f} MB")
    print(f"ratio: {peaks[sizes[-1]] / peaks[sizes[0]]:.2f}")


if __name__ == "__main__":
    main()

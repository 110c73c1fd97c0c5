"""Calibration of the paired tests between rows (`analysis.paired`): under exchangeable rows the
family-wise error of each family of pairs (base, adjacent, all; Holm within each), each pair's
type-I error and its bootstrap interval's coverage of 0; prints the table docs/cv.md quotes.
Data sets from tests/null_data.py (seeded): per case ``--datasets`` of them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from tuco_eval.analysis import paired

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from null_data import exchangeable_rows  # noqa: E402  (the tests' data sets)

# rows, tasks, docs per task, 0/1, correlation between rows, as a group
CASES = {
    "0/1, 1 task × 200 docs, 10 rows": (10, 1, 200, True, 0.5, False),
    "0/1, 1 task × 100 docs, 40 rows, ρ = 0.8": (40, 1, 100, True, 0.8, False),
    "continuous, 1 task × 25 docs, 2 rows": (2, 1, 25, False, 0.0, False),
    "continuous group, 3 tasks × 30 docs, 20 rows": (20, 3, 30, False, 0.5, True),
    "0/1 group, 60 tasks × 10 docs, 4 rows": (4, 60, 10, True, 0.5, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--n-boot", type=int, default=400)
    args = parser.parse_args()
    print(f"{args.datasets} data sets per case, {args.n_boot} bootstrap draws")
    print("| exchangeable rows | FWER base | FWER adjacent | FWER all | P(p < 0.05) per pair | CI coverage | seconds |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for case, (rows, tasks, docs, binary, shared, group) in CASES.items():
        start = time.perf_counter()
        data = exchangeable_rows(args.datasets, rows, tasks, docs, binary, shared, seed=rows + tasks)
        is_base = [True] + [False] * (rows - 1)
        families = {f: paired.family_pairs(f, is_base) for f in paired.FAMILIES}
        fwer = {f: [] for f in families}
        rejected, covered = [], []
        for members in data:
            for family, pairs in families.items():
                n_boot = args.n_boot if family == "all" else 20
                test = paired.group_pairs if group else (lambda m, **kw: paired.task_pairs(m[0], **kw))
                result = test(members, n_boot=n_boot, pairs=pairs)
                fwer[family].append(bool((result.p_holm < 0.05).any()))
                if family == "all":
                    rejected += (result.p < 0.05).tolist()
                    covered += ((result.low <= 0) & (0 <= result.high)).tolist()
        cells = " | ".join(f"{np.mean(fwer[f]):.3f}" for f in families)
        print(f"| {case} | {cells} | {np.mean(rejected):.3f} | {np.mean(covered):.3f} | {time.perf_counter() - start:.0f} |")
    print(f"Monte Carlo standard error of a rate near 0.05: {np.sqrt(0.05 * 0.95 / args.datasets):.3f}")


if __name__ == "__main__":
    main()

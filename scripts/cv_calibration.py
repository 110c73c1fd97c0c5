"""Calibration of Δ_CV's p-value and interval (`cv.cross_validate_scores`) under nulls where α
has no effect, and its power against a known gain. Prints the table docs/cv.md quotes.

Each null draws ``--datasets`` data sets (seeded; tests/null_data.py) of 0/1 or graded outcomes
on the paper's 7-α grid; a doc's outcome has the same distribution at every α:

* independent:  re-drawn independently at each α (N = 200),
* 10 % / 30 %:  the same outcome at every α except for 10 % / 30 % of the docs, re-drawn (N = 500),
* correlated:   a latent Gaussian per doc correlated across the grid, ρ = 0.8^|i − j| (N = 500),
* graded:       a continuous score, doc effect plus independent noise at each α (N = 300).

Per null: P(p < 0.05), the 95 % interval's coverage of 0 (the true gain), each with its Monte
Carlo standard error. Power: N = 1,000, 30 % of docs re-drawn, α = 1.1 three points more likely
right on every doc: P(significant gain). ``--n-boot`` α-permuted data sets per data set (the
default of `cv` is 2,000; the test's exactness does not depend on it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from tuco_eval.analysis import cv

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from null_data import ALPHA_NULLS, GRID, alpha_gain, alpha_null  # noqa: E402  (the tests' data sets)


def measure(datasets: np.ndarray, n_boot: int) -> dict:
    results = [cv.cross_validate_scores(s, GRID, seed=i, n_boot=n_boot) for i, s in enumerate(datasets)]
    rejected = np.array([r.p_value < 0.05 for r in results])
    covered = np.array([r.ci95[0] <= 0 <= r.ci95[1] for r in results])
    gains = np.array([r.significant for r in results])
    return {"reject": rejected.mean(), "cover": covered.mean(), "gain": gains.mean(), "n": len(results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--n-boot", type=int, default=2000)
    args = parser.parse_args()
    print(f"{args.datasets} data sets per null, {args.n_boot} draws each")
    print("| null | N | P(p < 0.05) | coverage of 0 | seconds |")
    print("|---|--:|--:|--:|--:|")
    for i, kind in enumerate(ALPHA_NULLS):
        start = time.perf_counter()
        data = alpha_null(kind, args.datasets, seed=i)
        m = measure(data, args.n_boot)
        se = np.sqrt(0.05 * 0.95 / m["n"])
        print(
            f"| {kind} | {data.shape[2]} | {m['reject']:.3f} ± {se:.3f} | {m['cover']:.3f} | "
            f"{time.perf_counter() - start:.0f} |"
        )
    start = time.perf_counter()
    m = measure(alpha_gain(args.datasets, seed=9), args.n_boot)
    print(f"power, +3 points at α = 1.1, N = 1000: {m['gain']:.3f} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

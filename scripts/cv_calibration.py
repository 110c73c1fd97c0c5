"""Calibration of Δ_CV's p-value, interval, power and the report's stars (`cv.cross_validate_scores`,
`group_cv`, `significance`), by simulation; prints the tables contributing/statistics.md quotes.

Parts (``--part``, default all), each over ``--datasets`` seeded data sets per case (tests/helpers/null_data.py):

* nulls:  α has no effect on any doc's distribution; the five exchangeable nulls of the last round
          and two where the α's are not exchangeable but have equal means: P(p < 0.05), coverage
          of E[Δ_CV] = 0.
* gains:  scaling α truly gains (`null_data.scaling_gain`: α = 1.1 gains g on average, 30 % of docs
          re-drawn at each other α): coverage of E[Δ_CV] (by simulation, 20,000 data sets) and of
          the best α's gain g, P(significant gain), mean width.
* groups: a group's interval and p from its documents: 5 tasks × 40 docs, 57 tasks of MMLU's sizes.
* global: 57 MMLU-sized tasks where α does nothing: the share of reports that star any task,
          uncorrected, after Benjamini–Hochberg and after Holm; the group's P(p < 0.05).
* power:  the detectable E[Δ_CV] the page prints against the power simulated at that gain.
* clusters: α has no effect but moves a cluster's docs together (120 docs in clusters of four):
          the α-permutation per doc and per cluster, P(p < 0.05) and the interval's coverage of 0.

``--jobs`` processes share the data sets (each seeded by its case and index, so the figures do not
depend on the number of jobs). From the repository root (it imports tests.helpers):

    python -m scripts.cv_calibration [--part P] [--datasets N] [--jobs J]
"""

from __future__ import annotations

import argparse
import time
import zlib
from functools import partial
from multiprocessing import Pool

import numpy as np

from tests.helpers.null_data import (  # the tests' data sets
    ALPHA_NULLS,
    DOCS,
    GRID,
    MMLU_SIZES,
    alpha_null,
    clustered_alpha_null,
    expected_delta_cv,
    noisier_alpha_null,
    scaling_gain,
)
from tuco_eval.stats import cv, multiplicity
from tuco_eval.stats.group_cv import group_inference
from tuco_eval.stats.power import detectable

NULLS = {kind: (kind, DOCS.get(kind, 500)) for kind in ALPHA_NULLS} | {
    "not exchangeable: α = 1 central (each other α re-draws 30 %)": ("central", 500),
    "not exchangeable: graded, α = 1.25 twice as noisy": ("noisier", 300),
}
GAINS = [(0.03, 1000), (0.10, 1000), (0.05, 40), (0.015, 1000), (0.05, 300), (0.10, 100)]
GROUPS = {"5 tasks × 40 docs, +5 points": ([40] * 5, 0.05), "57 tasks of MMLU's sizes, +2 points": (MMLU_SIZES, 0.02)}
POWER_GAINS = [0.01, 0.02, 0.03, 0.04]


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


def _null_set(case: str, index: int) -> np.ndarray:
    kind, n_docs = NULLS[case]
    seed = _seed("null", case, index)
    if kind == "central":
        return scaling_gain(1, n_docs, 0.0, seed)[0]
    if kind == "noisier":
        return noisier_alpha_null(1, n_docs, seed)[0]
    return alpha_null(kind, 1, seed, n_docs)[0]


def null_one(case: str, index: int) -> tuple[bool, bool]:
    r = cv.cross_validate_scores(_null_set(case, index), GRID, seed=index)
    return r.p_value < 0.05, r.ci95[0] <= 0 <= r.ci95[1]


def gain_one(gain: float, n_docs: int, index: int) -> tuple[float, float, float, bool, float]:
    r = cv.cross_validate_scores(scaling_gain(1, n_docs, gain, _seed("gain", gain, n_docs, index))[0], GRID, seed=index)
    return r.ci95[0], r.ci95[1], r.delta_cv, r.significant, detectable(r.null_sd, 0.05, r.se) or 0.0


def group_one(sizes: list[int], gain: float, index: int) -> tuple[float, float, float, bool, list[float]]:
    members, task_p = [], []
    for t, n_docs in enumerate(sizes):
        scores = scaling_gain(1, n_docs, gain, _seed("group", gain, len(sizes), t, index))[0]
        result, draws = cv.cross_validate_task(scores, GRID, seed=index, stream=t)
        members.append(draws)
        task_p.append(result.p_value if result.delta_cv > 0 else 1.0)  # a star needs a gain
    group = group_inference(members)
    return group.ci95[0], group.ci95[1], group.delta, group.p_value < 0.05, task_p


def _map(function, items, jobs: int) -> list:
    if jobs == 1:
        return [function(i) for i in items]
    with Pool(jobs) as pool:
        return pool.map(function, items, chunksize=4)


def mc(rate: float, n: int) -> str:
    return f"{rate:.3f} ± {np.sqrt(max(rate * (1 - rate), 0.05 * 0.95) / n):.3f}"


def part_nulls(n: int, jobs: int) -> None:
    print("\n| null | N | P(p < 0.05) | interval covers E[Δ_CV] = 0 | seconds |\n|---|--:|--:|--:|--:|")
    for case, (_, n_docs) in NULLS.items():
        start = time.perf_counter()
        found = np.array(_map(partial(null_one, case), range(n), jobs))
        print(f"| {case} | {n_docs} | {mc(found[:, 0].mean(), n)} | {mc(found[:, 1].mean(), n)} | "
              f"{time.perf_counter() - start:.0f} |", flush=True)


def part_gains(n: int, jobs: int) -> None:
    print("\n| true gain g of α = 1.1 | N | E[Δ_CV] | covers E[Δ_CV] | covers g | P(significant gain) | "
          "mean width | seconds |\n|---|--:|--:|--:|--:|--:|--:|--:|")
    for gain, n_docs in GAINS:
        start = time.perf_counter()
        truth = expected_delta_cv(n_docs, gain, seed=_seed("truth", gain, n_docs))
        found = np.array(_map(partial(gain_one, gain, n_docs), range(n), jobs))
        low, high = found[:, 0], found[:, 1]
        print(f"| +{100 * gain:g} points | {n_docs} | {100 * truth:+.2f} | "
              f"{mc(np.mean((low <= truth) & (truth <= high)), n)} | "
              f"{np.mean((low <= gain) & (gain <= high)):.3f} | {found[:, 3].mean():.3f} | "
              f"{100 * np.mean(high - low):.2f} | {time.perf_counter() - start:.0f} |", flush=True)


def part_groups(n: int, jobs: int) -> None:
    print("\n| group | E[Δ_CV] | covers E[Δ_CV] | P(p < 0.05) | mean width | seconds |\n|---|--:|--:|--:|--:|--:|")
    for case, (sizes, gain) in GROUPS.items():
        start = time.perf_counter()
        truth = float(np.mean([expected_delta_cv(s, gain, seed=_seed("truth", gain, s), n_sets=8000) for s in sizes]))
        found = _map(partial(group_one, sizes, gain), range(n), jobs)
        low, high = np.array([f[0] for f in found]), np.array([f[1] for f in found])
        print(f"| {case} | {100 * truth:+.2f} | {mc(np.mean((low <= truth) & (truth <= high)), n)} | "
              f"{np.mean([f[3] for f in found]):.3f} | {100 * np.mean(high - low):.2f} | "
              f"{time.perf_counter() - start:.0f} |", flush=True)


def part_global(n: int, jobs: int) -> None:
    start = time.perf_counter()
    found = _map(partial(group_one, MMLU_SIZES, 0.0), range(n), jobs)
    p = np.array([f[4] for f in found])  # [reports, 57]
    starred = {
        "uncorrected (p < 0.05)": (p < 0.05).any(axis=1),
        "Benjamini–Hochberg": np.array([(multiplicity.benjamini_hochberg(r) < 0.05).any() for r in p]),
        "Holm": np.array([(multiplicity.holm(r) < 0.05).any() for r in p]),
    }
    print("\n| 57 tasks of MMLU's sizes, α does nothing | share of reports with any starred task |\n|---|--:|")
    for name, any_star in starred.items():
        print(f"| {name} | {mc(any_star.mean(), n)} |")
    print(f"| the group's own P(p < 0.05) | {mc(np.mean([f[3] for f in found]), n)} |")
    print(f"({time.perf_counter() - start:.0f} s)", flush=True)


def part_power(n: int, jobs: int) -> None:
    print("\n| g, N = 1,000 | E[Δ_CV] | mean detectable E[Δ_CV] printed (p < 0.05, 80 %) | simulated P(significant gain) |"
          "\n|--:|--:|--:|--:|")
    for gain in POWER_GAINS:
        truth = expected_delta_cv(1000, gain, seed=_seed("truth", gain, 1000))
        found = np.array(_map(partial(gain_one, gain, 1000), range(n), jobs))
        print(f"| +{100 * gain:g} | {100 * truth:+.2f} | {100 * found[:, 4].mean():.2f} | {mc(found[:, 3].mean(), n)} |",
              flush=True)


def cluster_one(index: int) -> tuple[bool, bool, bool]:
    data, clusters = clustered_alpha_null(1, 30, 4, seed=_seed("clusters", index))
    by_doc = cv.cross_validate_scores(data[0], GRID, seed=index)
    by_cluster = cv.cross_validate_scores(data[0], GRID, seed=index, clusters=clusters)
    return by_doc.p_value < 0.05, by_cluster.p_value < 0.05, by_cluster.ci95[0] <= 0 <= by_cluster.ci95[1]


def part_clusters(n: int, jobs: int) -> None:
    start = time.perf_counter()
    found = np.array(_map(cluster_one, range(n), jobs))
    print("\n| 120 docs in 30 clusters, α does nothing | P(p < 0.05) | interval covers 0 |\n|---|--:|--:|")
    print(f"| α permuted per doc (clusters ignored) | {mc(found[:, 0].mean(), n)} | – |")
    print(f"| α permuted per cluster (`--cluster-key`) | {mc(found[:, 1].mean(), n)} | {mc(found[:, 2].mean(), n)} |")
    print(f"({time.perf_counter() - start:.0f} s)", flush=True)


PARTS = {"nulls": part_nulls, "gains": part_gains, "groups": part_groups, "global": part_global, "power": part_power,
         "clusters": part_clusters}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    print(f"{args.datasets} data sets per case; the defaults of `cv` (2,000 resamples and permutations)")
    for name, part in PARTS.items():
        if args.part in (name, "all"):
            part(args.datasets, args.jobs)


if __name__ == "__main__":
    main()

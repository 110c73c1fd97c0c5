"""Calibration of the paired tests between rows (`stats.paired`, `stats.sign_flip`), by
simulation and enumeration; prints the tables contributing/statistics.md quotes. Parts (``--part``, default all):

* families:  exchangeable rows: each family's chance of any star (the report's correction,
             Benjamini–Hochberg), each pair's P(p < 0.05), the bootstrap interval's coverage of 0.
* lattices:  0/1 groups of two tasks of coprime sizes, every discordance with more than 20 docs
             differing: the sign-flip p against the exact convolution of the two binomials.
* skewed:    differences of mean 0 that are not symmetric: what the sign-flip test then rejects.
* clusters:  docs clustered in fours, rows interchangeable: the test over docs and over clusters.
* power:     the detectable difference printed against the power simulated at it.
Data sets from tests/helpers/null_data.py (seeded); ``--datasets`` per case. From the repository
root (it imports tests.helpers):

    python -m scripts.pairs_calibration [--part P] [--datasets N]
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from scipy import stats

from tests.helpers.null_data import clustered_differences, exchangeable_rows  # the tests' data sets
from tuco_eval.stats import multiplicity, paired, power, sign_flip

# rows, tasks, docs per task, 0/1, correlation between rows, as a group
CASES = {
    "0/1, 1 task × 200 docs, 10 rows": (10, 1, 200, True, 0.5, False),
    "0/1, 1 task × 100 docs, 40 rows, ρ = 0.8": (40, 1, 100, True, 0.8, False),
    "continuous, 1 task × 25 docs, 2 rows": (2, 1, 25, False, 0.0, False),
    "continuous group, 3 tasks × 30 docs, 20 rows": (20, 3, 30, False, 0.5, True),
    "0/1 group, 60 tasks × 10 docs, 4 rows": (4, 60, 10, True, 0.5, True),
}
COPRIME = [(3, 20), (7, 19), (17, 23), (12, 40)]


def part_families(n: int) -> None:
    print("\n| exchangeable rows | any star, base | any star, adjacent | any star, all | P(p < 0.05) per pair "
          "| CI coverage | seconds |\n|---|--:|--:|--:|--:|--:|--:|")
    for case, (rows, tasks, docs, binary, shared, group) in CASES.items():
        start = time.perf_counter()
        data = exchangeable_rows(n, rows, tasks, docs, binary, shared, seed=rows + tasks)
        is_base = [True] + [False] * (rows - 1)
        families = {f: paired.family_pairs(f, is_base) for f in paired.FAMILIES}
        starred = {f: [] for f in families}
        rejected, covered = [], []
        for members in data:
            for family, pairs in families.items():
                n_boot = 400 if family == "all" else 20
                test = paired.group_pairs if group else (lambda m, **kw: paired.task_pairs(m[0], **kw))
                result = test(members, n_boot=n_boot, pairs=pairs)
                starred[family].append(bool((multiplicity.benjamini_hochberg(result.p) < 0.05).any()))
                if family == "all":
                    rejected += (result.p < 0.05).tolist()
                    covered += ((result.low <= 0) & (0 <= result.high)).tolist()
        cells = " | ".join(f"{np.mean(starred[f]):.3f}" for f in families)
        print(f"| {case} | {cells} | {np.mean(rejected):.3f} | {np.mean(covered):.3f} | "
              f"{time.perf_counter() - start:.0f} |", flush=True)
    print(f"Monte Carlo standard error of a rate near 0.05: {np.sqrt(0.05 * 0.95 / n):.3f}")


def exact_two_tasks(n1: int, n2: int, b1: int, c1: int, b2: int, c2: int) -> float:
    total = n1 + n2
    w1, w2 = total / (2 * n1), total / (2 * n2)
    k1, k2 = b1 + c1, b2 + c2
    x1, x2 = np.arange(k1 + 1), np.arange(k2 + 1)
    sums = np.abs(w1 * (2 * x1[:, None] - k1) + w2 * (2 * x2[None, :] - k2))
    mass = stats.binom.pmf(x1, k1, 0.5)[:, None] * stats.binom.pmf(x2, k2, 0.5)[None, :]
    observed = abs(w1 * (b1 - c1) + w2 * (b2 - c2))
    return float(mass[sums >= observed - 1e-9 * (w1 * k1 + w2 * k2)].sum())


def part_lattices(_: int) -> None:
    print("\n| task sizes | cases | largest relative error | decisions at 0.05 unlike exact | seconds |\n|---|--:|--:|--:|--:|")
    total = 0
    for n1, n2 in COPRIME:
        start, cases, worst, unlike = time.perf_counter(), 0, 0.0, 0
        weights = paired.group_weights([n1, n2])
        for b1, c1, b2, c2 in itertools.product(range(n1 + 1), range(n1 + 1), range(n2 + 1), range(n2 + 1)):
            if b1 + c1 > n1 or b2 + c2 > n2 or b1 + c1 + b2 + c2 <= 20:
                continue
            diff = np.r_[[1.0] * b1, [-1.0] * c1, [0.0] * (n1 - b1 - c1),
                         [1.0] * b2, [-1.0] * c2, [0.0] * (n2 - b2 - c2)] * weights  # fmt: skip
            exact, got = exact_two_tasks(n1, n2, b1, c1, b2, c2), sign_flip.sign_flip_p(diff)
            worst = max(worst, abs(got - exact) / exact)
            unlike += (got < 0.05) != (exact < 0.05)
            cases += 1
        total += cases
        print(f"| {n1} + {n2} | {cases} | {worst:.1e} | {unlike} | {time.perf_counter() - start:.0f} |", flush=True)
    print(f"{total} cases in all")


def part_skewed(n: int) -> None:
    print("\n| differences (mean 0, not symmetric) | docs | P(p < 0.05) |\n|---|--:|--:|")
    rng = np.random.default_rng(5)
    for sigma in (1.0, 1.5):
        for docs in (20, 50, 200):
            x = rng.lognormal(0, sigma, size=(n, docs)) - np.exp(sigma**2 / 2)
            print(f"| lognormal σ = {sigma}, centred at its mean | {docs} | "
                  f"{np.mean([sign_flip.sign_flip_p(r) < 0.05 for r in x]):.3f} |", flush=True)


def part_clusters(n: int) -> None:
    diffs, clusters = clustered_differences(n, 30, 4, seed=60)
    rows = [np.stack([np.zeros_like(d), d]) for d in diffs]
    docs = np.mean([paired.task_pairs(r, n_boot=20).p[0] < 0.05 for r in rows])
    over = [paired.task_pairs(r, n_boot=400, clusters=clusters) for r in rows]
    print("\n| 120 docs in 30 clusters, rows interchangeable | P(p < 0.05) | CI covers 0 |\n|---|--:|--:|")
    print(f"| sign-flip over docs (clusters ignored) | {docs:.3f} | – |")
    print(f"| sign-flip over clusters | {np.mean([r.p[0] < 0.05 for r in over]):.3f} | "
          f"{np.mean([r.low[0] <= 0 <= r.high[0] for r in over]):.3f} |", flush=True)


def part_power(n: int) -> None:
    rng = np.random.default_rng(40)
    print("\n| test | docs | detectable difference printed (p < 0.05, 80 %) | simulated power at it |\n|---|--:|--:|--:|")
    for docs in (100, 400, 2000):
        discordant = 0.3 * docs
        delta = power.detectable(power.mcnemar_spread(discordant, docs), 0.05)
        p_fix = (discordant / docs + delta) / 2
        draws = rng.multinomial(docs, [p_fix, p_fix - delta, 1 - 2 * p_fix + delta], size=n)
        found = paired.mcnemar_p(draws[:, 0], draws[:, 1]) < 0.05
        print(f"| McNemar, 30 % discordant | {docs} | {100 * delta:.2f} points | {found.mean():.3f} |")
        delta = power.detectable(1.0 / np.sqrt(docs), 0.05)
        found = [sign_flip.sign_flip_p(rng.normal(delta, 1.0, docs)) < 0.05 for _ in range(n)]
        print(f"| sign-flip, sd 1 | {docs} | {delta:.3f} | {np.mean(found):.3f} |", flush=True)


PARTS = {"families": part_families, "lattices": part_lattices, "skewed": part_skewed,
         "clusters": part_clusters, "power": part_power}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    args = parser.parse_args()
    print(f"{args.datasets} data sets per case")
    for name, part in PARTS.items():
        if args.part in (name, "all"):
            part(args.datasets)


if __name__ == "__main__":
    main()

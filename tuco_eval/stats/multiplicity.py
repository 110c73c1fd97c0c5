"""The report's correction for testing many tasks at once (docs/statistics.md, "One meaning of
significance"): adjusted p-values over a family of tests, and the raw p a test would need to be
significant after the correction (the level its power is computed at).

Benjamini–Hochberg (the default) controls the false discovery rate: among the tasks a page stars,
the expected share where nothing is there is at most 5 %; when nothing is there anywhere (the
global null) it is also the chance of starring anything. Holm controls the chance of any false
star at 5 % whatever is true, at a cost in power that grows with the number of tests.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

CORRECTIONS = {
    "bh": "Benjamini–Hochberg, false discovery rate 5 %",
    "holm": "Holm, family-wise error 5 %",
}
DEFAULT_CORRECTION = "bh"


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: the k-th smallest of m gets max over j ≤ k of
    min(1, (m − j + 1)·p_(j)); reject where the adjusted p is below the level."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = len(p)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg's step-up adjusted p-values (scipy's `false_discovery_control`): the k-th
    smallest of m gets min over j ≥ k of min(1, m·p_(j)/j); reject where it is below the FDR."""
    p = np.asarray(p, dtype=np.float64)
    return stats.false_discovery_control(p, method="bh") if len(p) else p


def adjust(p: np.ndarray, method: str = DEFAULT_CORRECTION) -> np.ndarray:
    """Adjusted p-values of one family of tests by ``method`` (a key of CORRECTIONS)."""
    if method == "bh":
        return benjamini_hochberg(p)
    if method == "holm":
        return holm(p)
    raise ValueError(f"unknown correction {method!r}; one of {', '.join(CORRECTIONS)}")


def raw_levels(p_adjusted: np.ndarray, level: float, method: str = DEFAULT_CORRECTION) -> np.ndarray:
    """Per test, the raw p it needs to be significant after the correction, the other tests'
    results as they are: with R others significant among m, BH asks p ≤ level·(R + 1)/m, Holm
    p ≤ level/(m − R). The level its detectable effect is computed at."""
    significant = np.asarray(p_adjusted) < level
    m = len(significant)
    others = significant.sum() - significant  # R of the other tests
    if method == "bh":
        return level * (others + 1) / m
    if method == "holm":
        return level / (m - others)
    raise ValueError(f"unknown correction {method!r}; one of {', '.join(CORRECTIONS)}")

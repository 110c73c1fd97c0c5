"""Intervals made from other intervals: a group's Δ_CV interval from its tasks' bootstrap
intervals by the normal approximation (the group's Δ is the mean of its tasks', tasks taken as
independent), and whether an interval shows a gain."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import norm

LEVEL = 0.95  # of every interval the report shows


def z_value(level: float = LEVEL) -> float:
    """The two-sided standard normal quantile of `level` (1.959964 for 95 %)."""
    return float(norm.ppf(0.5 + level / 2))


def group_interval(
    delta: float, member_intervals: Sequence[Sequence[float]], level: float = LEVEL
) -> tuple[float, float]:
    """Δ ± z·sqrt(Σ se_t²)/T over the group's T tasks, each task's standard error read off its
    interval at the same level: se_t = (hi − lo)/(2z)."""
    z = z_value(level)
    errors = [(high - low) / (2 * z) for low, high in member_intervals]
    half = z * math.sqrt(sum(e * e for e in errors)) / len(errors)
    return delta - half, delta + half


def shows_gain(interval: Sequence[float], objective: str) -> bool:
    """The interval excludes 0 on the side of a gain: above it for "max", below for "min"."""
    low, high = interval
    return low > 0 if objective == "max" else high < 0

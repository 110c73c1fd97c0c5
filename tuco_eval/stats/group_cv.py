"""A group's Δ_CV (the paper's unweighted mean of its tasks' Δ_CV) with a p-value and interval made
from the documents (contributing/statistics.md, "Groups"): each member task's docs resampled, and its α labels
permuted, within the task, every task's CV rerun, the group's statistic taken per draw.

The tasks' draws come from separate streams, so draw b of the group is the mean of independent
draws b of its tasks: the α-permutation distribution of the group's Δ_CV under "α has no effect
on any doc of any member", and its bootstrap distribution. The p-value is the two-stage
α-permutation test of `alpha_null`; the interval Δ ± z·sd of the bootstrap draws (the mean of
many tasks is close to normal; the single task's upper bound on the best α does not carry over
to a mean of tasks), made compatible with p as a task's is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from tuco_eval.stats.alpha_null import MAX_DRAWS, TAIL_DRAWS, permutation_p
from tuco_eval.stats.cv import LEVEL, SIGNIFICANCE_LEVEL, TaskDraws, objective_sign
from tuco_eval.stats.cv_bootstrap import compatible_interval


@dataclass(frozen=True)
class GroupInference:
    """A group's Δ_CV with its uncertainty from the documents."""

    delta: float  # unweighted mean of the member tasks' Δ_CV
    ci95: list[float]  # interval of E[group Δ_CV], compatible with p
    p_value: float  # α-permutation test over every member's docs
    significant: bool  # p < SIGNIFICANCE_LEVEL and a gain in the objective's direction
    se: float  # bootstrap standard deviation of the group's Δ_CV
    null_sd: float  # its standard deviation under "α has no effect"
    n_draws: int  # permutation draws behind p


def group_inference(
    members: Sequence[TaskDraws], objective: str = "max", n_boot: int = 2000, level: float = LEVEL
) -> GroupInference:
    """The group of ``members`` (their draws from `cv.cross_validate_task`, separate streams)."""
    sign = objective_sign(objective)
    delta = float(np.mean([m.delta for m in members]))
    scale = max(m.scale for m in members)
    draws = min(len(m.boot) for m in members)
    boot = np.mean([m.boot[:draws] for m in members], axis=0)

    def null(n: int) -> np.ndarray:
        return np.mean([m.null.draws(n) for m in members], axis=0)

    p_value, tail = permutation_p(delta, null(n_boot), scale)
    n_draws = n_boot
    if tail < TAIL_DRAWS and n_boot < MAX_DRAWS and any(m.null.varying for m in members):
        p_value, n_draws = permutation_p(delta, null(MAX_DRAWS), scale)[0], MAX_DRAWS
    se = float(boot.std())
    half = float(stats.norm.ppf(0.5 + level / 2)) * se
    low, high = compatible_interval(
        delta, (delta - half, delta + half), p_value, null(n_draws), SIGNIFICANCE_LEVEL
    )
    return GroupInference(
        delta=delta,
        ci95=[low, high],
        p_value=p_value,
        significant=bool(p_value < SIGNIFICANCE_LEVEL and sign * delta > 0),
        se=se,
        null_sd=float(null(n_boot).std()),
        n_draws=n_draws,
    )

"""What a test could have seen: the smallest difference it detects with 80 % power at a given raw
level (docs/statistics.md, "Power"). "Not significant" then reads "n.s. (detectable ≥ X points)".

Each test's statistic spreads by σ₀ under its null and by σ around the true difference; it
rejects beyond z·σ₀ (z the two-sided normal quantile of the level), so the smallest difference
found with power P is z·σ₀ + z_P·σ, the spreads those this data set shows:
- McNemar, D discordant docs of n: σ₀ = σ = √D/n (the count difference b − c spreads by √D;
  D held at the discordance seen).
- the sign-flip test of a (weighted) mean difference: σ₀ = σ = √(Σ d²)/n, its randomization
  spread.
- Δ_CV's α-permutation test: σ₀ the permuted Δ's spread, σ the bootstrap's around E[Δ_CV].
The level is the raw one the report's correction asks of that test (`multiplicity.raw_levels`).
Checked against simulation in tests/test_calibration.py.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

POWER = 0.8


def mcnemar_spread(discordant: np.ndarray, n: int) -> np.ndarray:
    """σ₀ of McNemar's test as a difference of accuracies: √D/n."""
    return np.sqrt(np.asarray(discordant, dtype=np.float64)) / n


def sign_flip_spread(weighted: np.ndarray, n: int) -> np.ndarray:
    """σ₀ of the sign-flip test of the mean of ``weighted`` [pairs × docs] over ``n``: √(Σ d²)/n."""
    return np.sqrt(np.square(np.asarray(weighted, dtype=np.float64)).sum(axis=-1)) / n


def detectable(
    null_spread: float, level: float, spread: float | None = None, power: float = POWER
) -> float | None:
    """The smallest true difference found with ``power`` by a two-sided test at raw ``level``:
    z·σ₀ + z_P·σ (σ = σ₀ unless given); None when nothing varies (no test)."""
    spread = null_spread if spread is None else spread
    if not (null_spread > 0 or spread > 0) or not math.isfinite(null_spread):
        return None
    z = float(stats.norm.ppf(1 - level / 2))
    return z * null_spread + float(stats.norm.ppf(power)) * spread

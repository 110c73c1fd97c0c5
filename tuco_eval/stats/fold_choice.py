"""The K-fold choice of α on many data sets at once: given each data set's per-fold sums of the
scores at every α, choose α per fold on the other folds (cv.choose_alpha's rule: best mean, ties
within TIE_TOL to the first α of ``preference``) and return the held-out gain Δ_CV. The
α-permutation null (`alpha_null`) and the document bootstrap (`cv_bootstrap`) both rerun the
whole cross-validation this way, so they choose exactly as the real one does."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# mean scores this close count as tied (float summation order differs by fold): the rule of
# cv.choose_alpha, which imports it, so the reruns choose exactly as the real CV
TIE_TOL = 1e-12


def held_out_deltas(
    fold_sums: np.ndarray,
    fold_sizes: np.ndarray,
    one: int,
    preference: Sequence[int],
    sign: float = 1.0,
) -> np.ndarray:
    """Δ_CV of each data set from ``fold_sums`` [sets, α, folds] (Σ of each fold's scores at each
    α) and ``fold_sizes`` [folds] or [sets, folds] (docs, or resampled copies, per fold)."""
    sizes = np.broadcast_to(np.asarray(fold_sizes, dtype=np.float64), fold_sums[:, 0, :].shape)
    totals = fold_sums.sum(axis=2)  # [sets, α]
    n_total = sizes.sum(axis=1)  # [sets]
    n_train = np.maximum(n_total[:, None] - sizes, 1e-300)[:, None, :]  # [sets, 1, folds]
    means = sign * (totals[:, :, None] - fold_sums) / n_train
    best = means.max(axis=1, keepdims=True)
    tied = means >= best - TIE_TOL * np.maximum(1.0, np.abs(best))
    preference = np.asarray(preference)
    chosen = preference[np.argmax(tied[:, preference, :], axis=1)]  # [sets, folds]
    held_out = np.take_along_axis(fold_sums, chosen[:, None, :], axis=1).sum(axis=(1, 2))
    return (held_out - totals[:, one]) / n_total


def fold_labels(tests: Sequence[np.ndarray], n_docs: int) -> np.ndarray:
    """Each doc's fold, from the folds' held-out doc positions."""
    fold_of = np.empty(n_docs, dtype=np.int64)
    for k, test in enumerate(tests):
        fold_of[np.asarray(test)] = k
    return fold_of

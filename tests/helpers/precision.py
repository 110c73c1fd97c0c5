"""Tolerances of the joint pass in a given dtype against a float64 reference, derived from the
dtype's machine epsilon (eps: the gap between 1 and the next number; a rounding moves a value by
at most eps/2 of itself).

Per block the joint pass rounds the block's output to the dtype (≤ eps/2 of the stream) and,
inside the block, the products of attention and MLP (≲ eps of the update, which in these tiny
random pairs is the size of the stream): about 1.5·eps per block, added up over L blocks.

- The residual stream after the last block, relative to its largest entry: 1.5·L·eps.
- TuCo = F/(P+F) with P = ‖Σ PTC‖₁, F = ‖Σ FTC‖₁: relative errors δP, δF move it by
  TuCo·(1−TuCo)·(δF − δP) ≤ ¼(|δP| + |δF|) ≤ ¼·2·1.5·L·eps = 0.75·L·eps (absolute).
- Logits, relative to their largest entry: the stream's bound plus one rounding for the final
  norm and one for the head, (1.5·L + 2)·eps; two such computations (cached and cache-free, or
  two orders of the same sums) differ by twice that.
- A log-probability log p_i = z_i − logsumexp(z) moves by at most twice the largest logit error,
  plus its own rounding when lm-eval takes log_softmax in the model's dtype (eps/2·|log p|, taken
  as eps); a continuation's log-likelihood adds that over its tokens.

Measured 2026-12-02 on the CPU, bfloat16 (eps = 2⁻⁷), 11 architectures × 3 prompts × α ∈ {1, 1.25},
L = 3: stream ≤ 2.4·eps (bound 4.5), TuCo ≤ 0.78·eps (bound 2.25).
"""

from __future__ import annotations

import torch

# float32 and float64 runs keep the project's fixed tolerances (far above their epsilons' bounds)
FLOAT32_STREAM, FLOAT32_TUCO, FLOAT32_LOGITS = 1e-4, 1e-5, 1e-4


def eps(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps


def stream_tolerance(dtype: torch.dtype, blocks: int) -> float:
    """Largest |stream − reference| / max |reference| after the last block."""
    return FLOAT32_STREAM if dtype in (torch.float32, torch.float64) else 1.5 * blocks * eps(dtype)


def tuco_tolerance(dtype: torch.dtype, blocks: int) -> float:
    """Largest |TuCo − reference TuCo| (TuCo lies in [0, 1])."""
    return FLOAT32_TUCO if dtype in (torch.float32, torch.float64) else 0.75 * blocks * eps(dtype)


def logits_tolerance(dtype: torch.dtype, blocks: int) -> float:
    """Largest |logits − other logits| / max |logits| between two computations of the same pass."""
    if dtype in (torch.float32, torch.float64):
        return FLOAT32_LOGITS
    return 2 * (1.5 * blocks + 2) * eps(dtype)


def loglikelihood_tolerance(dtype: torch.dtype, blocks: int, tokens: int, logit_scale: float,
                            logprob_scale: float) -> float:
    """Largest |log-likelihood − reference| of a `tokens`-token continuation, given the largest
    |logit| and |log-probability| of the reference."""
    if dtype in (torch.float32, torch.float64):
        return FLOAT32_LOGITS
    per_token = 2 * (1.5 * blocks + 2) * eps(dtype) * logit_scale + eps(dtype) * logprob_scale
    return tokens * per_token

"""Independent references for the joint pass: the residual stream written out block by block
(x + PTC + α·FTC) with its TuCo, that loop's logits and log-likelihoods one prompt at a time, and
the next-token measures by a loop over the vocabulary. The tests compare tuco-eval against these."""

from __future__ import annotations

import math

import torch

from tuco_eval.core.layers import find_blocks


def record_block_calls(model, ids):
    """Positional and keyword arguments of every block call in a plain forward (test's own hooks)."""
    calls, handles = [], []
    for block in find_blocks(model):
        handles.append(block.register_forward_pre_hook(
            lambda m, a, k: calls.append((a, dict(k))), with_kwargs=True))
    with torch.no_grad():
        model(ids, use_cache=False)
    for h in handles:
        h.remove()
    return calls


def naive_joint(ft, base, ids, alpha):
    """x_{l+1} = x_l + PTC_l + α·FTC_l written out, plus the TuCo sums at the last token."""
    calls = record_block_calls(ft, ids)
    x = calls[0][0][0] if calls[0][0] else calls[0][1]["hidden_states"]
    sum_ptc = torch.zeros_like(x[:, -1]).double()
    sum_ftc = torch.zeros_like(sum_ptc)
    with torch.no_grad():
        for ft_block, base_block, (args, kwargs) in zip(find_blocks(ft), find_blocks(base), calls, strict=True):
            rest = args[1:]
            kwargs = {k: v for k, v in kwargs.items() if k != "hidden_states"}
            out_pt = base_block(x, *rest, **kwargs)
            out_ft = ft_block(x, *rest, **kwargs)
            out_pt = out_pt[0] if isinstance(out_pt, tuple) else out_pt
            out_ft = out_ft[0] if isinstance(out_ft, tuple) else out_ft
            ptc = out_pt - x
            ftc = (out_ft - x) - (out_pt - x)
            sum_ptc += ptc[:, -1].double()
            sum_ftc += ftc[:, -1].double()
            x = x + ptc + alpha * ftc
    tuco = sum_ftc.abs().sum(-1) / (sum_ptc.abs().sum(-1) + sum_ftc.abs().sum(-1))
    return x, tuco


def naive_tuco(ft, base, ids: list[int], alpha: float) -> float:
    """TuCo at the last of `ids` by the naive loop, whose own Σ PTC and Σ FTC (float64) follow its
    α-scaled stream: the reference for a TuCo logged at α."""
    device = next(ft.parameters()).device
    return naive_joint(ft, base, torch.tensor([ids], device=device), alpha)[1].item()


def reference_logits(ft, base, ids: list[int], alpha: float) -> torch.Tensor:
    """One prompt, no cache, no batching: the naive block loop, then FT's final norm and head."""
    row = torch.tensor([ids])
    x, _ = naive_joint(ft, base, row, alpha)
    handle = find_blocks(ft)[-1].register_forward_hook(
        lambda m, a, out: (x, *out[1:]) if isinstance(out, tuple) else x)
    try:
        with torch.no_grad():
            return ft(row, use_cache=False).logits[0].float().log_softmax(-1)
    finally:
        handle.remove()


def reference_loglikelihood(ft, base, context: list[int], continuation: list[int], alpha: float):
    logp = reference_logits(ft, base, (context + continuation)[:-1], alpha)[-len(continuation):]
    target = torch.tensor(continuation)
    greedy = bool((logp.argmax(-1) == target).all())
    return float(logp.gather(-1, target[:, None]).sum()), greedy


def naive_next_token_measures(ft_row, base_row):
    """KL by a loop over the vocabulary; rank by sorting the base distribution."""
    p = torch.softmax(ft_row.double(), -1).tolist()
    q = torch.softmax(base_row.double(), -1).tolist()
    kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)
    token = max(range(len(p)), key=lambda i: p[i])
    order = sorted(range(len(q)), key=lambda i: -q[i])
    rank = 1 + order.index(token)
    name = "unshifted" if rank == 1 else "marginal" if rank <= 3 else "shifted"
    return kl, token, rank, name

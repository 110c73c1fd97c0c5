"""The performance issue's GPU check, prepared for a session that is lent a GPU (one H200).

A randomly initialised Llama pair of about 1B parameters in bfloat16 (16 blocks, hidden 2048,
vocabulary 32000): joint forward tokens/s versus base + fine-tuned forward separately;
`tuco_scaled` versus lm-eval's `hf` on 5-shot-MMLU-shaped token requests with and without
few-shot prefix reuse; peak GPU memory of each. Prints a Markdown table for contributing/performance.md
and `ratio: <joint time / separate time>` last. `--quick` (or no GPU) shrinks everything so the
script itself can be checked on a CPU in under a minute.

    python bench/gpu_check.py            # on the GPU machine, about 3-5 minutes
"""

from __future__ import annotations

import time

import torch
from lm_eval.models.huggingface import HFLM

from common import id_tokenizer, joint_of, mid_size_pair, parser
from tuco_eval.core.pair import Pair
from tuco_eval.harness.tuco_scaled import TucoScaledLM


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> tuple[float, float]:
    """(median seconds, peak GiB) of fn after one warm-up call."""
    fn()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return sorted(times)[len(times) // 2], peak


def main() -> None:
    args = parser(__doc__).parse_args()
    gpu = torch.cuda.is_available() and not args.quick
    device = torch.device("cuda:0" if gpu else "cpu")
    dtype = torch.bfloat16 if gpu else torch.float32
    size = dict(blocks=16, hidden=2048) if gpu else dict(blocks=2, hidden=128)
    batch, tokens, docs, repeats = (16, 1024, 64, 5) if gpu else (2, 64, 4, 1)
    ft, base = mid_size_pair(**size)
    ft, base = ft.to(device, dtype), base.to(device, dtype)
    params = sum(p.numel() for p in ft.parameters()) / 1e9
    joint = joint_of(ft, base, alpha=1.1)
    ids = torch.randint(0, 32000, (batch, tokens), device=device)

    @torch.no_grad()
    def separate():
        base(ids, use_cache=False)
        ft(ids, use_cache=False)

    @torch.no_grad()
    def joined():
        with joint.active():
            ft(ids, use_cache=False)

    rows = {"base + fine-tuned, separately": timed(separate, device, repeats),
            "joint pass (α = 1.1)": timed(joined, device, repeats)}
    prefix = torch.randint(2, 32000, (5 * 100,)).tolist()  # 5-shot: prefix about 5x the question
    requests = [((f"d{d}", str(c)), prefix + torch.randint(2, 32000, (100,)).tolist(), [c])
                for d in range(docs) for c in (319, 320, 321, 322)]
    tokenizer = id_tokenizer()
    lm = TucoScaledLM.from_pair(Pair(ft, tokenizer, base, joint), batch_size=batch, device=str(device))
    hf = HFLM(pretrained=ft, tokenizer=tokenizer, batch_size=batch, device=str(device))

    def tuco(alpha: float, reuse: bool):
        def run():
            lm.alpha, lm.prefix_reuse = alpha, reuse
            lm._loglikelihood_tokens(requests, disable_tqdm=True)
        return run

    rows["tuco_scaled α=1.1, 5-shot, no prefix reuse"] = timed(tuco(1.1, False), device, repeats)
    rows["tuco_scaled α=1.1, 5-shot, prefix reuse"] = timed(tuco(1.1, True), device, repeats)
    rows["tuco_scaled α=1, 5-shot, prefix reuse"] = timed(tuco(1.0, True), device, repeats)
    rows["hf, 5-shot"] = timed(lambda: hf._loglikelihood_tokens(requests, disable_tqdm=True), device, repeats)

    name = torch.cuda.get_device_name(device) if gpu else "CPU (script check only)"
    print(f"{name}, {params:.2f}B-parameter random Llama per model, {dtype}, forward batch {batch}x{tokens}, "
          f"{docs} docs x 4 choices for the 5-shot rows")
    print("| run | seconds | peak GiB |\n|---|---|---|")
    for label, (seconds, peak) in rows.items():
        print(f"| {label} | {seconds:.3f} | {peak:.1f} |")
    forward_tokens = batch * tokens
    print(f"joint tokens/s: {forward_tokens / rows['joint pass (α = 1.1)'][0]:.0f}; separate: "
          f"{forward_tokens / rows['base + fine-tuned, separately'][0]:.0f}")
    print(f"ratio: {rows['joint pass (α = 1.1)'][0] / rows['base + fine-tuned, separately'][0]:.3f}")


if __name__ == "__main__":
    main()

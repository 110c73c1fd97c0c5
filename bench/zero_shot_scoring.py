"""Zero-shot rows: `tuco_scaled` projecting onto the vocabulary only where a continuation is scored.

Mid-size random Llama pair (8 blocks, hidden 512, vocabulary 32000), CPU, float32, batch 8, one
torch thread by default. Persona-shaped token requests: a 60-token statement per doc, no shared
prefix, two one-token choices (" Yes" / " No"). Times `tuco_scaled` at α = 1.1 on its own scoring
path (`prefix_reuse=true`, the default) and on HFLM's (`prefix_reuse=false`), and at α = 1 on its
path beside lm-eval's own HFLM on the fine-tuned model, round-robin; checks the answers agree.
Last line: `ratio: <own path / HFLM's path at α = 1.1>`.
"""

from __future__ import annotations

import random

import torch

from common import interleaved_medians, parser, scoring_lms, scoring_run

STATEMENT, CHOICES = 60, (319, 320)


def _requests(docs: int) -> list:
    rng = random.Random(0)
    out = []
    for doc in range(docs):
        context = [rng.randrange(2, 32000) for _ in range(STATEMENT + rng.randrange(-10, 10))]
        out += [((f"doc {doc}", str(c)), context, [c]) for c in CHOICES]
    return out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on a shared 2-core machine, more threads only add contention noise)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    docs, repeats = (10, 2) if args.quick else (80, 3)
    requests = _requests(docs)
    lm, plain_hf = scoring_lms()

    def tuco(alpha: float, own_path: bool):
        return scoring_run(lm, requests, alpha, own_path)

    own, hflm = tuco(1.1, True)(), tuco(1.1, False)()
    gap = max(abs(a[0] - b[0]) for a, b in zip(own, hflm, strict=True))
    if gap > 1e-4 or [a[1] for a in own] != [b[1] for b in hflm]:
        raise SystemExit(f"the two paths disagree: largest log-likelihood gap {gap:.2e}")
    own_key, hflm_key = "tuco_scaled α=1.1, own path", "tuco_scaled α=1.1, HFLM's path"
    times = interleaved_medians({
        hflm_key: tuco(1.1, False),
        own_key: tuco(1.1, True),
        "tuco_scaled α=1, own path": tuco(1.0, True),
        "HFLM (fine-tuned)": lambda: plain_hf._loglikelihood_tokens(requests, disable_tqdm=True),
    }, repeats)
    for name, seconds in times.items():
        print(f"{name:>31}: {seconds:7.2f} s for {docs} docs")
    print(f"largest log-likelihood gap between the paths: {gap:.1e}")
    print(f"α=1 own path / HFLM: {times['tuco_scaled α=1, own path'] / times['HFLM (fine-tuned)']:.3f}")
    print(f"ratio: {times[own_key] / times[hflm_key]:.3f}")


if __name__ == "__main__":
    main()

"""Few-shot prefixes computed once: `tuco_scaled` log-likelihoods with and without prefix reuse.

Mid-size random Llama pair (8 blocks, hidden 512), CPU, float32, batch 8, one torch thread by default. 5-shot-MMLU-shaped
token requests: one 300-token few-shot prefix, a 60-token question per doc, 4 one-token choices.
Times `tuco_scaled` at α = 1.1 with reuse and without, and at α = 1 with reuse beside lm-eval's
own HFLM on the fine-tuned model, round-robin. Last line: `ratio: <reuse / no reuse at α = 1.1>`.
"""

from __future__ import annotations

import random

import torch

from common import interleaved_medians, parser, scoring_lms, scoring_run

PREFIX, QUESTION, CHOICES = 300, 60, (319, 320, 321, 322)


def _requests(docs: int) -> list:
    rng = random.Random(0)
    prefix = [rng.randrange(2, 32000) for _ in range(PREFIX)]
    out = []
    for doc in range(docs):
        context = prefix + [rng.randrange(2, 32000) for _ in range(QUESTION)]
        out += [((f"doc {doc}", str(c)), context, [c]) for c in CHOICES]
    return out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on a shared 2-core machine, more threads only add contention noise)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    docs, repeats = (5, 2) if args.quick else (40, 3)
    requests = _requests(docs)
    lm, plain_hf = scoring_lms()

    def tuco(alpha: float, own_path: bool):
        return scoring_run(lm, requests, alpha, own_path)

    times = interleaved_medians({
        "tuco_scaled α=1.1, no reuse": tuco(1.1, False),
        "tuco_scaled α=1.1, reuse": tuco(1.1, True),
        "tuco_scaled α=1, reuse": tuco(1.0, True),
        "HFLM (fine-tuned)": lambda: plain_hf._loglikelihood_tokens(requests, disable_tqdm=True),
    }, repeats, warmups=1 if args.quick else 2)
    for name, seconds in times.items():
        print(f"{name:>28}: {seconds:7.2f} s for {docs} docs")
    print(f"α=1 reuse / HFLM: {times['tuco_scaled α=1, reuse'] / times['HFLM (fine-tuned)']:.3f}")
    print(f"ratio: {times['tuco_scaled α=1.1, reuse'] / times['tuco_scaled α=1.1, no reuse']:.3f}")


if __name__ == "__main__":
    main()

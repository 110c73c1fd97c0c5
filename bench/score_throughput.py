"""`score` throughput: prompts per second of TuCo scoring beside a plain fine-tuned forward.

Mid-size random Llama pair (8 blocks, hidden 512), 64 prompts of 40-200 tokens, batch 8, CPU,
float32; both sides get the same length-sorted, padded batches. Prints prompts/s for each and
`ratio: <scoring time / plain fine-tuned forward time>` last (two models' blocks: about 2 expected).
"""

from __future__ import annotations

import random

import torch

from common import interleaved_medians, joint_of, mid_size_pair, parser
from tuco_eval.core.batching import pad_batch
from tuco_eval.core.tuco import tuco_of_batch


def main() -> None:
    args = parser(__doc__).parse_args()
    n_prompts, repeats = (16, 2) if args.quick else (64, 3)
    rng = random.Random(0)
    prompts = sorted(([rng.randrange(32000) for _ in range(rng.randint(40, 200))] for _ in range(n_prompts)),
                     key=len, reverse=True)
    batches = [pad_batch(prompts[i:i + 8], 0) for i in range(0, n_prompts, 8)]
    ft, base = mid_size_pair()
    joint = joint_of(ft, base)

    @torch.no_grad()
    def plain():
        for ids, mask in batches:
            ft(input_ids=ids, attention_mask=mask, use_cache=False)

    def score():
        for ids, mask in batches:
            tuco_of_batch(joint, ids, mask)

    times = interleaved_medians({"plain fine-tuned forward": plain, "TuCo scoring": score}, repeats)
    for name, seconds in times.items():
        print(f"{name:>26}: {n_prompts / seconds:7.1f} prompts/s")
    print(f"ratio: {times['TuCo scoring'] / times['plain fine-tuned forward']:.3f}")


if __name__ == "__main__":
    main()

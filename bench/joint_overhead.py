"""Joint forward time / (base forward + fine-tuned forward), measured side by side.

Mid-size random Llama (8 blocks, hidden 512, vocabulary 32000), batch 8 x 256 tokens, float32,
CPU. The joint pass runs both models' blocks but one embedding and one LM head, so with a large
vocabulary it can beat two separate forwards; the blocks-only variant (vocabulary 512, heads
negligible) shows the cost against the true floor of 1.0. Prints `ratio: <joint / separate>`
(vocabulary 32000, α = 1.1, no TuCo) last.
"""

from __future__ import annotations

import torch

from common import interleaved_medians, joint_of, mid_size_pair, parser
from tuco_eval.core.joint import TucoSums


def measure(vocab: int, batch: int, length: int, repeats: int) -> dict[str, float]:
    ft, base = mid_size_pair(vocab=vocab)
    joint = joint_of(ft, base, alpha=1.1)
    ids = torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(0))
    last = torch.full((batch,), length - 1)

    @torch.no_grad()
    def separate():
        base(ids, use_cache=False)
        ft(ids, use_cache=False)

    @torch.no_grad()
    def run(sums=None):
        with joint.active(sums):
            ft(ids, use_cache=False)

    return interleaved_medians({
        "separate": separate,
        "joint": run,
        "joint+tuco(last token)": lambda: run(TucoSums(positions=last)),
        "joint+tuco(all tokens)": lambda: run(TucoSums()),
    }, repeats)


def main() -> None:
    args = parser(__doc__).parse_args()
    batch, length, repeats = (4, 128, 3) if args.quick else (8, 256, 5)
    print(f"torch threads={torch.get_num_threads()} batch={batch}x{length} repeats={repeats} float32 CPU")
    results = {}
    for vocab in (32000, 512):
        times = measure(vocab, batch, length, repeats)
        results[vocab] = times
        print(f"vocabulary {vocab}:")
        for name, seconds in times.items():
            print(f"  {name:>24}: {seconds * 1000:8.1f} ms  {seconds / times['separate']:.3f} x separate")
    print(f"ratio: {results[32000]['joint'] / results[32000]['separate']:.3f}")


if __name__ == "__main__":
    main()

"""Cost of the three scaling modes: forward time per batch, the weight mix, bytes held.

Mid-size random Llama pair (8 blocks, hidden 512, vocabulary 32000), batch 8 x 256 tokens, float32,
CPU, α = 1.1. Times are per scoring forward (as lm-eval's `_model_call`), relative to one plain
fine-tuned forward; `weights` mixes once per α (timed apart), then runs as one model. Prints the
extra bytes of the weights mode (the saved θ_FT of the parameters that differ) against the
model's parameter bytes, then `ratio: <weights mode / fine-tuned alone>` last (target about 1:
once mixed, the weights mode is one model's forward).
"""

from __future__ import annotations

import time

import torch

from common import interleaved_medians, mid_size_pair, parser
from tuco_eval.core.joint import Joint
from tuco_eval.core.pair import base_blocks_for
from tuco_eval.core.scaling import Scaling


def main() -> None:
    args = parser(__doc__).parse_args()
    batch, length, repeats = (4, 128, 3) if args.quick else (8, 256, 5)
    ft, base = mid_size_pair()
    scalings = {m: Scaling(ft, base, Joint(ft, base_blocks_for(ft, base), alpha=1.1), m)
                for m in ("activation", "logits")}
    weights = Scaling(ft, base, Joint(ft, base_blocks_for(ft, base), alpha=1.1), "weights")
    ids = torch.randint(0, 32000, (batch, length), generator=torch.Generator().manual_seed(0))

    def run(scaling):
        @torch.no_grad()
        def call():
            with scaling.active():
                ft(ids, use_cache=False)
        return call

    start = time.perf_counter()
    weights.weights.set(1.1)
    mix_seconds = time.perf_counter() - start
    weights.weights.restore()
    fns = {"fine-tuned alone": run(Scaling(ft, base, Joint(ft, base_blocks_for(ft, base)), "activation")),
           **{m: run(s) for m, s in scalings.items()}, "weights": run(weights)}
    # weights' first call re-mixes; the warm-up of interleaved_medians absorbs it
    times = interleaved_medians(fns, repeats)
    weights.mode = "activation"
    print(f"torch threads={torch.get_num_threads()} batch={batch}x{length} repeats={repeats} float32 CPU α=1.1")
    for name, seconds in times.items():
        print(f"  {name:>16}: {seconds * 1000:8.1f} ms  {seconds / times['fine-tuned alone']:.2f} x fine-tuned")
    print(f"  weight mix (once per α): {mix_seconds * 1000:.1f} ms")
    weights.mode = "weights"
    weights.weights.set(1.1)
    held = weights.weights.extra_bytes()
    total = sum(p.numel() * p.element_size() for p in ft.parameters())
    weights.mode = "activation"
    print(f"weights-mode extra bytes: {held / 2**20:.1f} MiB of {total / 2**20:.1f} MiB parameters "
          f"({held / total:.2f} of a full copy)")
    print(f"ratio: {times['weights'] / times['fine-tuned alone']:.3f}")


if __name__ == "__main__":
    main()

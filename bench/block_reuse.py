"""What computing the blocks below a LoRA adapter once saves on a 7-α sweep (`core/block_reuse.py`).

The demo's adapters transform the upper third of the blocks (20-29 of 30); below them the residual
stream is the same at every α, so `reuse_block_outputs` computes those blocks once per batch. Here:
a mid-size random Llama (12 blocks, hidden 512, vocabulary 32,000) with a LoRA adapter on blocks
8-11, the joint pass at the paper's seven α over one batch, with and without the reuse, round-robin,
CPU seconds of this process with one torch thread (medians); the logits are checked equal, bit for
bit. Last line: `ratio: <sweep with reuse / sweep without>`.
"""

from __future__ import annotations

import time

import torch

from common import interleaved_medians, mid_size_model, parser
from tuco_eval.core.block_reuse import reuse_block_outputs
from tuco_eval.core.layers import find_blocks
from tuco_eval.core.pair import join
from tuco_eval.util.params import PAPER_ALPHAS

BLOCKS, ADAPTED = 12, [8, 9, 10, 11]


def adapted_model():
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
                        layers_to_transform=ADAPTED, init_lora_weights=False)
    return get_peft_model(mid_size_model(blocks=BLOCKS), config).eval()


def main() -> None:
    args = parser(__doc__).parse_args()
    torch.set_num_threads(1)
    batch, tokens = (4, 64) if args.quick else (8, 128)
    repeats, warmups = (1, 1) if args.quick else (3, 2)
    model = adapted_model()
    joint = join(model, None)
    lower = find_blocks(model)[: min(ADAPTED)]
    ids = torch.randint(0, 32000, (batch, tokens), generator=torch.Generator().manual_seed(0))
    logits: dict[bool, list[torch.Tensor]] = {}

    @torch.no_grad()
    def sweep(reuse: bool) -> None:
        out = []
        with reuse_block_outputs(lower if reuse else []):
            for alpha in PAPER_ALPHAS:
                joint.alpha = alpha
                with joint.active():
                    out.append(model(ids, use_cache=False).logits)
        logits[reuse] = out

    started = time.perf_counter()
    times = interleaved_medians({"without": lambda: sweep(False), "with": lambda: sweep(True)}, repeats,
                                clock=time.process_time, warmups=warmups)
    same = all(torch.equal(a, b) for a, b in zip(logits[False], logits[True], strict=True))
    print(f"7-α sweep, batch {batch} × {tokens} tokens, LoRA on blocks {ADAPTED[0]}-{ADAPTED[-1]} of {BLOCKS}: "
          f"{times['without']:.2f} CPU s without reuse, {times['with']:.2f} with; logits "
          f"{'identical' if same else 'DIFFER'} (bench wall time {time.perf_counter() - started:.0f} s)")
    if not same:
        raise SystemExit("the reused blocks changed the logits")
    print(f"ratio: {times['with'] / times['without']:.3f}")


if __name__ == "__main__":
    main()

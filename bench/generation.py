"""Generation cost: the joint's `generate` beside `generate` of each model on its own.

Greedy generation of 64 new tokens (min = max, no end-of-sequence stop), batch 8 of 32-token
prompts, mid-size random Llama (8 blocks, hidden 512, vocabulary 32000), CPU, float32, one torch
thread by default, timed in process CPU time (other jobs on a shared machine move wall time
far more; `--wall` times wall-clock instead). At α = 1.25 the joint generates once with both models' keys and values in one
cache (tuco_eval.core.shared_cache), against the fine-tuned model's `generate` plus the base's: target
≤ 1.10. At α = 1 (no hooks) against the fine-tuned model alone, which it must equal token for
token: target ≤ 1.03. Round-robin timing, medians; last line `ratio: <joint α=1.25 / (FT + base)>`.
"""

from __future__ import annotations

import time

import torch

from common import interleaved_medians, joint_of, mid_size_pair, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--wall", action="store_true", help="time wall-clock instead of process CPU time")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    batch, new_tokens, repeats = (4, 16, 3) if args.quick else (8, 64, 7)
    ft, base = mid_size_pair()
    for model in (ft, base):
        model.generation_config.eos_token_id = None
    joint = joint_of(ft, base, alpha=1.25)
    prompts = torch.randint(2, 32000, (batch, 32), generator=torch.Generator().manual_seed(0))
    settings = dict(do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=0,
                    attention_mask=torch.ones_like(prompts))
    outputs: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def alone(name, model):
        outputs[name] = model.generate(prompts, **settings)

    @torch.no_grad()
    def scaled(name, alpha):
        joint.alpha = alpha
        with joint.active():
            outputs[name] = ft.generate(prompts, **settings)
        joint.check_finite("logits during generation")

    times = interleaved_medians({
        "fine-tuned": lambda: alone("fine-tuned", ft),
        "base": lambda: alone("base", base),
        "joint α=1.25": lambda: scaled("joint α=1.25", 1.25),
        "joint α=1": lambda: scaled("joint α=1", 1.0),
    }, repeats, clock=time.perf_counter if args.wall else time.process_time)
    assert torch.equal(outputs["joint α=1"], outputs["fine-tuned"]), "α = 1 must generate FT's tokens"
    assert outputs["joint α=1.25"].shape[1] == prompts.shape[1] + new_tokens
    print(f"torch threads={torch.get_num_threads()} batch={batch} new tokens={new_tokens} repeats={repeats} "
          f"float32 CPU, {'wall' if args.wall else 'process CPU'} time")
    for name, seconds in times.items():
        print(f"  {name:>14}: {seconds:7.3f} s  {batch * new_tokens / seconds:7.1f} tokens/s")
    separate = times["fine-tuned"] + times["base"]
    print(f"α = 1.25: joint / (fine-tuned + base) = {times['joint α=1.25'] / separate:.3f} (target <= 1.10)")
    print(f"α = 1:    joint / fine-tuned          = {times['joint α=1'] / times['fine-tuned']:.3f} (target <= 1.03)")
    print(f"ratio: {times['joint α=1.25'] / separate:.3f}")


if __name__ == "__main__":
    main()

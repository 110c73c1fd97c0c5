"""Cost of the final NaN/inf check: `tuco_scaled` with it beside the same `tuco_scaled` without it.

The check only reads what goes back to lm-eval: every log-likelihood (one float per request) and,
during generation, a device flag per step on the output logits (one `aminmax` over them, read once
after `generate`). Mid-size random Llama pair (8 blocks, hidden 512,
vocabulary 32000, where the vocabulary weighs most against the blocks), CPU, float32, one torch
thread, process CPU time, round-robin medians; α = 1 (the fine-tuned model alone, so the check is
all that is added) and α = 1.1. Scoring: 48 docs x 4 one-token choices, 100-token contexts, batch 8,
as bench/alpha_one.py. Generation: batch 8 of 32-token prompts, 64 new tokens (min = max).
The outputs with and without the check are asserted equal. The check is also timed alone (the
answers of the scoring run; the flags of one generation's steps on [8, 1, 32000] logits), as a
fraction of the run without it: on a shared machine the side-by-side ratios move by a few percent
between runs of identical code. Last line: `ratio: <the larger of the scoring and generation
ratios, with / without>`.
"""

from __future__ import annotations

import random
import time
from contextlib import nullcontext

import torch

import tuco_eval.harness.tuco_scaled as lm_module
from common import id_tokenizer, interleaved_medians, joint_of, mid_size_pair, parser
from tuco_eval.core.nonfinite import nonfinite
from tuco_eval.core.pair import Pair
from tuco_eval.harness.tuco_scaled import TucoScaledLM


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    docs, new_tokens, repeats = (8, 8, 3) if args.quick else (48, 64, 5)
    rng = random.Random(0)
    requests = []
    for doc in range(docs):
        context = [rng.randrange(2, 32000) for _ in range(100)]
        requests += [((f"doc {doc}", str(c)), context, [c]) for c in (319, 320, 321, 322)]
    ft, base = mid_size_pair()
    ft.generation_config.eos_token_id = None
    lm = TucoScaledLM.from_pair(Pair(ft, id_tokenizer(), base, joint_of(ft, base)), batch_size=8, device="cpu")
    prompts = torch.randint(2, 32000, (8, 32), generator=torch.Generator().manual_seed(0))
    generation = dict(context=prompts, attention_mask=torch.ones_like(prompts), stop=[],
                      max_length=32 + new_tokens, min_new_tokens=new_tokens, do_sample=False)
    outputs: dict[str, object] = {}
    checked_answers, checked_flag = lm._check_answers, lm_module.logits_flag

    def run(name: str, alpha: float, checked: bool, scoring: bool):
        def call() -> None:
            lm.alpha = alpha
            lm._check_answers = checked_answers if checked else (lambda requests, results: None)
            lm_module.logits_flag = checked_flag if checked else (lambda model, flag: nullcontext())
            try:
                if scoring:
                    outputs[name] = lm._loglikelihood_tokens(requests, disable_tqdm=True)
                else:
                    outputs[name] = lm._model_generate(**generation)
            finally:
                lm._check_answers, lm_module.logits_flag = checked_answers, checked_flag

        return call

    fns = {f"{kind} α={alpha} {'with' if checked else 'without'}": run(
               f"{kind} α={alpha} {'with' if checked else 'without'}", alpha, checked, kind == "scoring")
           for kind in ("scoring", "generation") for alpha in (1.0, 1.1) for checked in (True, False)}
    times = interleaved_medians(fns, repeats, clock=time.process_time)
    print(f"torch threads={torch.get_num_threads()} scoring: {docs} docs x 4 choices, batch 8; generation: "
          f"8 x 32-token prompts, {new_tokens} new tokens; repeats={repeats}, float32 CPU, process CPU time")
    ratios = []
    for kind in ("scoring", "generation"):
        for alpha in (1.0, 1.1):
            with_check, without = times[f"{kind} α={alpha} with"], times[f"{kind} α={alpha} without"]
            same = outputs[f"{kind} α={alpha} with"]
            other = outputs[f"{kind} α={alpha} without"]
            equal = torch.equal(same, other) if isinstance(same, torch.Tensor) else same == other
            assert equal, f"{kind} at α={alpha}: the check must only read"
            ratios.append(with_check / without)
            print(f"  {kind:>10} α={alpha}: with {with_check:7.3f} s, without {without:7.3f} s, "
                  f"with / without {with_check / without:.3f}")
    # the check alone, timed apart: what the side-by-side ratios can show under machine noise
    answers = outputs["scoring α=1.0 with"]
    step_logits = torch.randn(8, 1, 32000)
    alone = interleaved_medians({
        "answers": lambda: checked_answers(requests, answers),
        "generation flags": lambda: [nonfinite(step_logits) for _ in range(new_tokens)],
    }, repeats, clock=time.process_time)
    print(f"  the check alone: {alone['answers'] * 1e3:.3f} ms for {len(requests)} answers "
          f"({alone['answers'] / times['scoring α=1.0 without']:.2e} of scoring at α=1); "
          f"{alone['generation flags'] * 1e3:.2f} ms for {new_tokens} steps' flags "
          f"({alone['generation flags'] / times['generation α=1.0 without']:.2e} of generation at α=1)")
    print(f"ratio: {max(ratios):.3f}")


if __name__ == "__main__":
    main()

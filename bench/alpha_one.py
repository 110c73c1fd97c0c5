"""α = 1 costs one model: `tuco_scaled` at α = 1 (no TuCo logged) beside lm-eval's own `hf`.

At α = 1 with nothing to log, `tuco_scaled` installs no block hooks and runs the fine-tuned model
alone (bit-identical log-likelihoods: tests/test_lm.py). Mid-size random Llama (8 blocks, hidden
512), CPU, float32, batch 8, one torch thread by default; 48 docs of a 100-token context and 4
one-token choices with no shared prefix (so prefix reuse has nothing to do). Round-robin timing;
last line `ratio: <tuco_scaled α=1 / hf>` (target <= 1.03).
"""

from __future__ import annotations

import random

import torch
from lm_eval.models.huggingface import HFLM

from common import id_tokenizer, interleaved_medians, joint_of, mid_size_pair, parser
from tuco_eval.core.pair import Pair
from tuco_eval.harness.tuco_scaled import TucoScaledLM


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    docs, repeats = (16, 3) if args.quick else (48, 5)
    rng = random.Random(0)
    requests = []
    for doc in range(docs):
        context = [rng.randrange(2, 32000) for _ in range(100)]
        requests += [((f"doc {doc}", str(c)), context, [c]) for c in (319, 320, 321, 322)]
    ft, base = mid_size_pair()
    tokenizer = id_tokenizer()
    lm = TucoScaledLM.from_pair(Pair(ft, tokenizer, base, joint_of(ft, base, alpha=1.0)), batch_size=8,
                                device="cpu")
    plain = HFLM(pretrained=ft, tokenizer=tokenizer, batch_size=8, device="cpu")
    outputs = {}

    def timed(name, model):
        def run():
            outputs[name] = model._loglikelihood_tokens(requests, disable_tqdm=True)
        return run

    times = interleaved_medians({"hf": timed("hf", plain), "tuco_scaled α=1": timed("tuco", lm)}, repeats)
    assert outputs["hf"] == outputs["tuco"], "α = 1 must give hf's answers bit for bit"
    for name, seconds in times.items():
        print(f"{name:>16}: {seconds:6.2f} s for {docs} docs")
    print(f"ratio: {times['tuco_scaled α=1'] / times['hf']:.3f}")


if __name__ == "__main__":
    main()

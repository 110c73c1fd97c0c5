"""tuco_scaled's own path for zero-shot rows against HFLM's: the demo's persona pair and task.

Runs `tuco_demo_personas` (30 held-out docs per persona, two one-token choices each) through
lm-eval with `prefix_reuse` on (rows scored whole, the vocabulary projection only at the scored
token) and off (HFLM's path), at α = 1 and 1.25, and prints per α the CPU seconds of each, the
largest log-likelihood difference and whether every value is bit-identical. Needs the demo model
(fetched into the tuco-eval cache by `tuco-eval demo`).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from lm_eval import simple_evaluate

from tuco_eval.demo.run import FULL, eval_settings, load_demo_pair
from tuco_eval.harness.tuco_scaled import TucoScaledLM


def loglikelihoods(lm: TucoScaledLM, task_manager) -> tuple[list[float], float]:
    """Every response's log-likelihood in doc order, and the CPU seconds the evaluation took."""
    started = time.process_time()
    out = simple_evaluate(model=lm, tasks=["tuco_demo_personas"], task_manager=task_manager,
                          log_samples=True, bootstrap_iters=0)
    cpu = time.process_time() - started
    values = [resp[0][0] for task in sorted(out["samples"])
              for sample in sorted(out["samples"][task], key=lambda s: s["doc_id"]) for resp in sample["resps"]]
    return values, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.0, 1.25])
    args = parser.parse_args()
    demo = load_demo_pair("offline", "cpu", "persona")
    task_manager = eval_settings(FULL).task_manager
    for alpha in args.alphas:
        found = {}
        for own_path in (True, False):
            lm = TucoScaledLM.from_pair(demo.pair, batch_size=FULL.batch_size, device="cpu", prefix_reuse=own_path)
            lm.alpha = alpha
            found[own_path] = loglikelihoods(lm, task_manager)
        own, hflm = (torch.tensor(found[k][0]) for k in (True, False))
        print(json.dumps({"alpha": alpha, "requests": len(own), "cpu_s_own_path": round(found[True][1], 1),
                          "cpu_s_hflm_path": round(found[False][1], 1),
                          "max_abs_diff": float((own - hflm).abs().max()),
                          "bit_identical": bool(torch.equal(own, hflm))}), flush=True)


if __name__ == "__main__":
    main()

"""How far prefix reuse moves log-likelihoods at α = 1: the demo pair, 10-shot MMLU prompts.

Scores the same requests with `prefix_reuse` on and off and prints the largest difference and
how many answers (argmax over A-D) and greedy flags changed. Needs the demo model (fetched into
the tuco-eval cache by `tuco-eval demo`) and the shared MMLU copy (`--mmlu FILE`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from lm_eval.api.instance import Instance

from tuco_eval.demo.assets import fetch_base
from tuco_eval.harness.tuco_scaled import TucoScaledLM

ADAPTER = Path(__file__).resolve().parents[1] / "tuco_eval" / "demo" / "adapter"


def prompt(row: dict, with_answer: bool = True) -> str:
    lines = [row["question"].strip(), *(f"{k}. {c}" for k, c in zip("ABCD", row["choices"], strict=True))]
    text = "\n".join(lines) + "\nAnswer:"
    return text + (f" {'ABCD'[row['answer']]}\n\n" if with_answer else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mmlu", default="../shared/data/mmlu/mmlu_test.jsonl")
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--shots", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [json.loads(line) for line in Path(args.mmlu).read_text().splitlines()[: args.shots + args.docs]]
    shots = "".join(prompt(r) for r in rows[: args.shots])
    pairs = [(shots + prompt(d, False), f" {k}") for d in rows[args.shots :] for k in "ABCD"]
    folder, gguf = fetch_base(verbose=False)
    results = {}
    for reuse in (True, False):
        lm = TucoScaledLM(pretrained=str(ADAPTER), base=str(folder), base_gguf_file=gguf, alpha=1.0,
                          device="cpu", batch_size=8, prefix_reuse=reuse)
        requests = [Instance("loglikelihood", {}, pair, idx=i) for i, pair in enumerate(pairs)]
        results[reuse] = lm.loglikelihood(requests, disable_tqdm=True)
    reused, plain = (torch.tensor([r[0] for r in results[k]]) for k in (True, False))
    print(json.dumps({
        "docs": args.docs, "shots": args.shots, "context_tokens": len(lm.tok_encode(pairs[0][0])),
        "max_abs_diff": float((reused - plain).abs().max()),
        "answers_changed": int((reused.view(-1, 4).argmax(1) != plain.view(-1, 4).argmax(1)).sum()),
        "greedy_flags_changed": sum(a[1] != b[1] for a, b in zip(results[True], results[False], strict=True)),
    }))


if __name__ == "__main__":
    main()

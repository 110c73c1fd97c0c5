"""The prompts scored against the naive references (tests/helpers/naive.py) on the CPU
(test_exactness.py) and on the GPU (test_gpu_lane.py): log-likelihood pairs after five shots,
rolling texts, and generation prompts of three lengths."""

from __future__ import annotations

SHOTS = " ".join(f"Question: what is fine-tuning {n}? A B C D Answer: {'ABCD'[n % 4]}" for n in range(5))
PAIRS = [(SHOTS + f" Question: the quick brown fox {n} ? A B C D Answer:", c)
         for n in range(3) for c in (" A", " B")] + [("Is the following statement", " something you would say?")]
TEXTS = ["the quick brown fox jumps over the lazy dog 0 1 2 3", "Question: what is fine-tuning? It changes"]
PROMPTS = ["Question: what is fine-tuning", "the quick brown fox jumps over the lazy dog 0 1 2",
           "Is the following statement something you would say? Yes"]  # three lengths: left padding

"""Utilities every layer uses: `TucoError` (a user mistake: one line, exit code 2), the values
users type (α and its grid, scaling modes, true/false flags: `params`), JSONL reading and atomic
file writes (`jsonl`), long computations resumed piece by piece (`resume`) and the names of a
checkpoint series (`checkpoint_labels`).

The bottom layer: imports the standard library and tqdm only, nothing else of tuco_eval, and
never torch, transformers, lm-eval, peft or accelerate (`lint-imports` checks).
"""

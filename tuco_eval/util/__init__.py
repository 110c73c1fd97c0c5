"""Utilities every layer uses: what the user is told (`errors`: `TucoError`, one line and exit
code 2; `warn`, one log line), the values users type (α and its grid, scaling modes, true/false
flags: `params`), atomic file writes and file names (`files`), JSONL (`jsonl`), long computations
resumed piece by piece (`resume`) and the names of a checkpoint series (`checkpoint_labels`).

The bottom layer: imports the standard library and tqdm only, nothing else of tuco_eval, and
never torch, transformers, lm-eval, peft or accelerate (`lint-imports` checks).
"""

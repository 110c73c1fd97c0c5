"""The joint pass and everything computed on a loaded pair: where a decoder keeps its blocks
(`layers`), the α-scaled hooks and TuCo sums (`joint`), what each side computes above its blocks
and the one shared KV cache (`positions`, `shared_cache`), the PEFT adapter switch
(`adapter_off`), where each side comes from (`sources`: `ModelSource`; failed loads in one line:
`load_errors`), the one pair loader (`pair`), TuCo of prompt batches (`tuco`), greedy generation
(`generation`), next-token measures (`measures`, `base_pass`), the NaN/inf checks (`nonfinite`),
prompts to batches and each token's text back (`batching`) and the scaling modes behind one switch
(`scaling`; the logits and weights mechanisms in `logit_mix`, `weight_mix`).

May import torch, transformers, peft, accelerate and `tuco_eval.util`; never lm-eval (the
harness wraps core for it; `lint-imports` checks) and nothing of the store, analysis or render.
"""

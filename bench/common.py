"""Shared set-up for the benchmarks: a mid-size random Llama pair, timing, the closing ratio line."""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from tuco_eval.core.joint import Joint
from tuco_eval.core.layers import find_blocks


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--quick", action="store_true", help="a smaller run that finishes in under a minute")
    return p


def mid_size_model(blocks: int = 8, hidden: int = 512, vocab: int = 32000, seed: int = 0):
    """A random Llama, float32, CPU, in eval mode."""
    torch.manual_seed(seed)
    config = LlamaConfig(hidden_size=hidden, intermediate_size=hidden * 8 // 3 // 64 * 64,
                         num_hidden_layers=blocks, num_attention_heads=hidden // 64,
                         num_key_value_heads=hidden // 64, vocab_size=vocab, max_position_embeddings=4096)
    config._attn_implementation = "sdpa"
    return LlamaForCausalLM(config).eval()


def mid_size_pair(**kwargs):
    """(fine-tuned, base): the fine-tune perturbs every block of the base."""
    base = mid_size_model(**kwargs)
    ft = copy.deepcopy(base)
    with torch.no_grad():
        for p in find_blocks(ft).parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return ft, base


def joint_of(ft, base, alpha: float = 1.1) -> Joint:
    return Joint(ft, [b.forward for b in find_blocks(base)], alpha=alpha)


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int,
                        clock: Callable[[], float] = time.perf_counter, warmups: int = 2) -> dict[str, float]:
    """Median seconds of each function, run round-robin so machine noise hits all alike.

    `clock=time.process_time` counts this process's CPU time only: with one torch thread it is
    the figure least moved by other jobs sharing the machine."""
    for _ in range(warmups):  # the first passes pay for allocator growth and page faults
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def id_tokenizer():
    """A tokenizer object with a pad token: benchmarks hand lm-eval token ids, HFLM wants one."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(WordLevel({"<pad>": 0, "<unk>": 1}, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=words, pad_token="<pad>", unk_token="<unk>")


def scoring_lms(batch_size: int = 8):
    """(`tuco_scaled` on the mid-size pair at α = 1.1, lm-eval's HFLM on its fine-tuned model)."""
    from lm_eval.models.huggingface import HFLM

    from tuco_eval.core.pair import Pair
    from tuco_eval.harness.tuco_scaled import TucoScaledLM

    ft, base = mid_size_pair()
    tokenizer = id_tokenizer()
    lm = TucoScaledLM.from_pair(Pair(ft, tokenizer, base, joint_of(ft, base)), batch_size=batch_size, device="cpu")
    return lm, HFLM(pretrained=ft, tokenizer=tokenizer, batch_size=batch_size, device="cpu")


def scoring_run(lm, requests: list, alpha: float, own_path: bool) -> Callable[[], list]:
    """`tuco_scaled`'s log-likelihoods of token `requests` at `alpha`, on its own scoring path
    (`prefix_reuse=true`) or HFLM's."""
    def run() -> list:
        lm.alpha, lm.prefix_reuse = alpha, own_path
        return lm._loglikelihood_tokens(requests, disable_tqdm=True)
    return run

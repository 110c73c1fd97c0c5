"""Paths that once gave wrong numbers without a word (issue 20), each against an independent
reference: cache-free generation, the base or fine-tuned model's own output, the naive block loop."""

from __future__ import annotations

import copy
from contextlib import nullcontext

import pytest
import torch
import transformers as tf
from lm_eval import simple_evaluate
from lm_eval.models.huggingface import HFLM
from test_positions import IDS, _pair

from tiny_models import LLAMA_LIKE, make_tokenizer
from tuco_eval.errors import TucoError
from tuco_eval.lm import TucoScaledLM
from tuco_eval.modes.scaling import Scaling
from tuco_eval.pair import join

# --- a static cache on a pair whose sliding windows differ, both directions ---------------------

WINDOW_PAIRS = {
    "ft window 4, base full": (tf.MistralConfig(sliding_window=4, **LLAMA_LIKE),
                               tf.MistralConfig(sliding_window=None, **LLAMA_LIKE)),
    "ft full, base window 4": (tf.MistralConfig(sliding_window=None, **LLAMA_LIKE),
                               tf.MistralConfig(sliding_window=4, **LLAMA_LIKE)),
}


def _window_pair(case):
    ft, base = _pair(tf.MistralForCausalLM, *(copy.deepcopy(c) for c in WINDOW_PAIRS[case]))
    for model in (ft, base):
        model.generation_config.eos_token_id = None  # always max_new_tokens new tokens
    return ft, base


def _greedy(model, context, **kwargs):
    ids = IDS[:, :14]
    mask = torch.ones_like(ids)
    mask[1, :5] = 0  # one left-padded row
    with torch.no_grad(), context:
        out = model.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=0,
                             output_scores=True, return_dict_in_generate=True, **kwargs)
    return out.sequences, torch.stack(out.scores).log_softmax(-1)


@pytest.mark.parametrize("mode", ["activation", "logits"])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize("case", sorted(WINDOW_PAIRS))
def test_static_cache_with_differing_windows_equals_cache_free(case, alpha, mode):
    """generate expands a static cache's masks beforehand, for the fine-tuned config only; the base
    builds its own from the 2-D padding mask, as without a static cache."""
    ft, base = _window_pair(case)
    scaling = Scaling(ft, base, join(ft, base, alpha), mode)
    assert scaling.joint.positions is not None and not scaling.joint.positions.same_masks
    sequences, scores = _greedy(ft, scaling.active(), use_cache=False)
    static_sequences, static_scores = _greedy(ft, scaling.active(), use_cache=True, cache_implementation="static")
    assert torch.equal(static_sequences, sequences)
    assert torch.allclose(static_scores, scores, atol=1e-4)
    if mode == "logits" and alpha == 0.0:  # the mix at α = 0 is the base model: its own greedy text
        base_sequences, _ = _greedy(base, nullcontext(), use_cache=True, cache_implementation="static")
        assert torch.equal(static_sequences, base_sequences)


def test_static_cache_with_the_finetuned_masks_would_be_wrong():
    """The test above can fail: the fine-tuned model's masks in the base pass give other scores
    (base full attention) or a shape error (base windowed)."""
    ft, base = _window_pair("ft window 4, base full")
    scaling = Scaling(ft, base, join(ft, base, 0.5), "logits")
    _, scores = _greedy(ft, scaling.active(), use_cache=False)
    scaling.logit_mix._masks = None  # the mask generate made for the fine-tuned windows, as it was
    _, static_scores = _greedy(ft, scaling.active(), use_cache=True, cache_implementation="static")
    assert (static_scores - scores).abs().max() > 1e-2


@pytest.mark.parametrize("mode", ["activation", "logits"])
def test_a_mask_expanded_elsewhere_is_refused_in_one_line(mode):
    """A 4-D mask the caller expanded for the fine-tuned windows: the base cannot rebuild its own."""
    ft, base = _window_pair("ft window 4, base full")
    scaling = Scaling(ft, base, join(ft, base, 0.5), mode)
    ids = IDS[:, :9]
    expanded = torch.ones(2, 1, 9, 9, dtype=torch.bool).tril()
    with torch.no_grad(), scaling.active(), pytest.raises(TucoError, match="pass the 2-D padding mask") as raised:
        ft(ids, attention_mask=expanded, use_cache=False)
    assert "\n" not in str(raised.value)


@pytest.fixture(scope="module", params=sorted(WINDOW_PAIRS))
def window_dirs(request, tmp_path_factory):
    """(fine-tuned folder, base folder) of each window pairing, with the test tokenizer."""
    ft, base = _window_pair(request.param)
    root, tokenizer = tmp_path_factory.mktemp("windows"), make_tokenizer()
    for name, model in (("finetuned", ft), ("base", base)):
        model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = 1, 2, 0
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    return str(root / "finetuned"), str(root / "base")


def _responses(lm, task_manager, task="tiny_gen_static"):
    out = simple_evaluate(model=lm, tasks=[task], task_manager=task_manager, log_samples=True,
                          bootstrap_iters=0, limit=8)  # two left-padded batches of 4
    return [s["resps"] for s in sorted(out["samples"][task], key=lambda s: s["doc_id"])]


def test_generate_until_with_a_static_cache_and_differing_windows(window_dirs, task_manager, monkeypatch):
    """`cache_implementation: static` in a task's generation kwargs, logits and activation modes:
    α = 0 in logits mode is the base model's own greedy text; α = 0.5 equals cache-free generation."""
    lm = TucoScaledLM(pretrained=window_dirs[0], base=window_dirs[1], alpha=0.0, mode="logits", device="cpu",
                      batch_size=4)
    base = HFLM(pretrained=window_dirs[1], device="cpu", batch_size=4)
    assert _responses(lm, task_manager) == _responses(base, task_manager)
    static = {}
    for mode in ("logits", "activation"):
        lm.mode, lm.alpha = mode, 0.5
        static[mode] = _responses(lm, task_manager)
    original = lm.model.generate
    monkeypatch.setattr(lm.model, "generate", lambda *a, **k: original(*a, **{**k, "use_cache": False}))
    for mode in ("logits", "activation"):
        lm.mode = mode
        assert static[mode] == _responses(lm, task_manager), mode
    assert static["logits"] != static["activation"]  # the modes differ: each was really computed

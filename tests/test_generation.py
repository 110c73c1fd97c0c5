"""Cached generation at α ≠ 1 equals the same α-scaled model run without any KV cache.

Every decoding mode `generate` offers reorders, crops or copies the cache in its own way (beam
search, assisted decoding, left-padded batches): the base blocks' keys and values must follow.
The reference is the joint pass with `use_cache=False`: the whole sequence through both models at
every step, nothing cached anywhere. What cannot be exact is refused in one line.
"""

from __future__ import annotations

import pytest
import torch
from lm_eval import simple_evaluate
from packaging.version import Version
from transformers.cache_utils import Cache, DynamicLayer

from tests.helpers.tiny_models import make_pair, save_pair
from tuco_eval.core.base_pass import base_forward
from tuco_eval.core.compat import cache_keyword, cache_of
from tuco_eval.core.joint import Joint, NonFiniteError
from tuco_eval.core.layers import find_blocks
from tuco_eval.core.logit_mix import LogitMix
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.util.errors import TucoError

ARCHS = ["llama", "gpt2", "gemma2", "gpt_neox"]  # gemma2: sliding-window layers (window 6) in the cache
DECODING = {
    "greedy": dict(do_sample=False),
    "sample": dict(do_sample=True, top_k=0, temperature=1.0),
    "beams": dict(do_sample=False, num_beams=3),
}


def _left_padded(lengths=(9, 5), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, width - length :] = torch.randint(3, 90, (length,), generator=generator)
        mask[row, width - length :] = 1
    return ids, mask


def _joint(ft, base, alpha: float) -> Joint:
    ft.generation_config.eos_token_id = None  # always max_new_tokens new tokens
    return Joint(ft, [block.forward for block in find_blocks(base)], alpha=alpha)


def _generate(model, joint, ids, mask, use_cache: bool, **kwargs) -> list:
    torch.manual_seed(0)  # sampling draws the same numbers in both runs
    with torch.no_grad(), joint.active():
        out = model.generate(ids, attention_mask=mask, max_new_tokens=7, pad_token_id=0,
                             use_cache=use_cache, **kwargs)
    return out[:, ids.shape[1] :].tolist()


@pytest.mark.parametrize("decoding", sorted(DECODING))
@pytest.mark.parametrize("arch", ARCHS)
def test_cached_generation_equals_cache_free_generation(arch, decoding):
    ft, base = make_pair(arch)
    ids, mask = _left_padded()
    for alpha in (1.25, 0.5):
        joint = _joint(ft, base, alpha)
        cached = _generate(ft, joint, ids, mask, True, **DECODING[decoding])
        assert cached == _generate(ft, joint, ids, mask, False, **DECODING[decoding]), alpha


def test_scaled_beam_search_differs_from_the_finetuned_model():
    # the equality above is not vacuous: α changes what beam search returns
    ft, base = make_pair("llama")
    ids, mask = _left_padded()
    scaled = _generate(ft, _joint(ft, base, 0.5), ids, mask, True, num_beams=3)
    assert scaled != _generate(ft, _joint(ft, base, 1.0), ids, mask, True, num_beams=3)


@pytest.mark.parametrize("assist", ["prompt_lookup", "assistant_model"])
def test_assisted_decoding_equals_cache_free_greedy(assist):
    # candidates are verified by the joint model and the rejected ones cropped off the cache
    ft, base = make_pair("llama")
    prompt = torch.tensor([[5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7]])  # repeats: prompt lookup proposes
    extra = {"prompt_lookup_num_tokens": 3} if assist == "prompt_lookup" else {"assistant_model": base}
    mask = torch.ones_like(prompt)
    for alpha in (1.25, 0.5):
        joint = _joint(ft, base, alpha)
        assisted = _generate(ft, joint, prompt, mask, True, do_sample=False, **extra)
        assert assisted == _generate(ft, joint, prompt, mask, False, do_sample=False), alpha


@pytest.mark.parametrize("arch", ["llama", "gemma2"])
def test_static_cache_equals_cache_free_beam_search(arch):
    ft, base = make_pair(arch)
    joint, (ids, mask) = _joint(ft, base, 1.25), _left_padded()
    static = _generate(ft, joint, ids, mask, True, num_beams=3, cache_implementation="static")
    assert static == _generate(ft, joint, ids, mask, False, num_beams=3)


def test_logits_mode_beam_search_equals_cache_free():
    # logits mode keeps the base model's layers in the same cache the same way
    ft, base = make_pair("llama")
    ft.generation_config.eos_token_id = None
    mix, (ids, mask) = LogitMix(ft, base_forward(ft, base)), _left_padded()

    def generate(use_cache: bool, alpha: float = 0.5) -> list:
        with torch.no_grad(), mix.active(alpha):
            out = ft.generate(ids, attention_mask=mask, max_new_tokens=7, pad_token_id=0, num_beams=3,
                              use_cache=use_cache)
        return out[:, ids.shape[1] :].tolist()

    assert generate(True) == generate(False)
    assert generate(True) != generate(True, alpha=1.0)  # the mix is not a no-op: α changes the beams


def test_returned_cache_continues_exactly():
    # a cache handed back by the joint keeps the base's layers: continuing from it stays exact
    ft, base = make_pair("llama")
    joint, ids = _joint(ft, base, 1.25), torch.randint(3, 90, (2, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad(), joint.active():
        cache = cache_of(ft(ids[:, :5], use_cache=True))
        continued = ft(ids[:, 5:], use_cache=True, **{cache_keyword(ft): cache}).logits
        reference = ft(ids, use_cache=False).logits[:, 5:]
    assert len(cache.layers) == 2 * len(find_blocks(ft))
    assert torch.allclose(continued, reference, atol=1e-5)


@pytest.mark.parametrize("implementation", ["offloaded", "offloaded_static"])
def test_offloaded_cache_is_refused_in_one_line(implementation):
    if Version(torch.__version__.split("+")[0]) < Version("2.7") and not torch.cuda.is_available():
        pytest.skip("before torch 2.7 transformers builds an offloaded cache on a CUDA stream")
    ft, base = make_pair("llama")
    ids, mask = _left_padded()
    with pytest.raises(TucoError, match=r"^\w+Cache with offloading is not supported when the base runs") as err:
        _generate(ft, _joint(ft, base, 1.25), ids, mask, True, cache_implementation=implementation)
    assert "\n" not in str(err.value)


def test_unknown_cache_class_and_prefilled_cache_are_refused():
    ft, base = make_pair("llama")
    joint, ids = _joint(ft, base, 1.25), torch.randint(3, 90, (1, 5))
    with torch.no_grad():
        prefilled = cache_of(ft(ids, use_cache=True))  # the base never saw this prefix
        keyword = cache_keyword(ft)
        with joint.active(), pytest.raises(TucoError, match="^Cache is not supported when the base runs"):
            ft(ids, use_cache=True, **{keyword: Cache(layer_class_to_replicate=DynamicLayer)})
        with joint.active(), pytest.raises(TucoError, match="pre-filled past_key_values"):
            ft(ids, use_cache=True, **{keyword: prefilled})


def test_nonfinite_generation_is_one_line_in_python():
    ft, base = make_pair("llama")
    joint = _joint(ft, base, 1.25)
    original = joint.base_blocks[2]
    joint.base_blocks[2] = lambda *args, **kwargs: original(*args, **kwargs) * float("inf")
    ids, mask = _left_padded()
    _generate(ft, joint, ids, mask, True)
    with pytest.raises(NonFiniteError, match=r"non-finite logits at α=1.25 \(first in the output of block 2 of 3\)"):
        joint.check_finite("logits")


# --- through lm-eval's generate_until ----------------------------------------------------------


@pytest.fixture(scope="module", params=["llama", "gpt2", "gemma2"])
def scaled_lm(request, tmp_path_factory):
    ft_dir, base_dir = save_pair(tmp_path_factory.mktemp(f"pair_{request.param}"), request.param)
    return TucoScaledLM(pretrained=ft_dir, base=base_dir, alpha=1.25, device="cpu", batch_size=4)


def _responses(lm, task_manager, task: str) -> list:
    out = simple_evaluate(model=lm, tasks=[task], task_manager=task_manager, log_samples=True,
                          bootstrap_iters=0, limit=4)  # one batch of 4 prompts, 4 lengths
    return [s["resps"] for s in sorted(out["samples"][task], key=lambda s: s["doc_id"])]


def _without_cache(lm, monkeypatch) -> None:
    # lm-eval asks generate for use_cache=True; the reference recomputes everything each step
    original = lm.model.generate
    monkeypatch.setattr(lm.model, "generate", lambda *a, **k: original(*a, **{**k, "use_cache": False}))


@pytest.mark.parametrize("task", ["tiny_gen", "tiny_gen_beams", "tiny_gen_sample"])
def test_generate_until_equals_cache_free_generation(scaled_lm, task_manager, task, monkeypatch):
    # a batch of 4 left-padded prompts of different lengths, α = 1.25 and 0.5
    for alpha in (1.25, 0.5):
        scaled_lm.alpha = alpha
        cached = _responses(scaled_lm, task_manager, task)
        with monkeypatch.context() as patch:
            _without_cache(scaled_lm, patch)
            assert cached == _responses(scaled_lm, task_manager, task), alpha
    scaled_lm.alpha = 1.25


@pytest.mark.parametrize("task", ["tiny_gen", "tiny_gen_sample"])
def test_nonfinite_generation_names_alpha_and_first_block(pair_dirs, task_manager, task):
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], alpha=1.25, device="cpu", batch_size=4)
    original = lm.joint.base_blocks[1]
    lm.joint.base_blocks[1] = lambda *args, **kwargs: original(*args, **kwargs) * float("nan")
    match = r"non-finite logits during generation at α=1.25 \(first in the output of block 1 of 3\)"
    with pytest.raises(NonFiniteError, match=match):
        simple_evaluate(model=lm, tasks=[task], task_manager=task_manager, limit=2, bootstrap_iters=0)


def test_nonfinite_generation_in_logits_mode(pair_dirs, task_manager):
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], alpha=1.25, device="cpu", batch_size=4,
                      mode="logits")
    mix = lm.scaling.logit_mix
    original = mix.base_forward

    def poisoned(*args, **kwargs):
        out = original(*args, **kwargs)
        out.logits = out.logits * float("nan")
        return out

    mix.base_forward = poisoned
    with pytest.raises(NonFiniteError, match=r"non-finite logits during generation at α=1.25"):
        simple_evaluate(model=lm, tasks=["tiny_gen"], task_manager=task_manager, limit=2, bootstrap_iters=0)

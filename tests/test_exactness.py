"""Every log-likelihood request type of `tuco_scaled` against a cache-free, one-prompt-at-a-time
reference (tests/helpers/naive.py): the residual stream written out block by block (x + PTC + α·FTC),
then the fine-tuned model's own final norm and head; and `generate_until` against greedy
decoding of the same reference (cached-generation modes: tests/test_generation.py)."""

from __future__ import annotations

import pytest
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from tests.helpers.naive import reference_logits, reference_loglikelihood
from tests.helpers.reference_prompts import PAIRS, PROMPTS, TEXTS
from tests.helpers.tiny_models import make_pair, make_tokenizer
from tuco_eval.harness.tuco_scaled import TucoScaledLM

ARCHS = ["llama", "gpt2", "gemma2", "gpt_neox"]


@pytest.fixture(scope="module", params=ARCHS)
def pair(request):
    return make_pair(request.param)


def _lm(pair, alpha, **kwargs) -> TucoScaledLM:
    ft, base = pair
    return TucoScaledLM(pretrained=ft, base=base, tokenizer=make_tokenizer(), alpha=alpha,
                        device="cpu", batch_size=3, **kwargs)


@pytest.mark.parametrize("prefix_reuse,log_tuco,atol", [(False, False, 1e-5), (False, True, 1e-5),
                                                         (True, False, 1e-4)])
def test_loglikelihood_equals_the_reference(pair, prefix_reuse, log_tuco, atol):
    lm = _lm(pair, 1.25, prefix_reuse=prefix_reuse, log_tuco=log_tuco)
    requests = [Instance("loglikelihood", {}, p, idx=i) for i, p in enumerate(PAIRS)]
    results = lm.loglikelihood(requests)
    for (context, continuation), (loglik, greedy) in zip(PAIRS, results, strict=True):
        ctx, cont = lm._encode_pair(context, continuation)
        expected, expected_greedy = reference_loglikelihood(*pair, ctx, cont, 1.25)
        assert loglik == pytest.approx(expected, abs=atol)
        assert greedy == expected_greedy
    fresh = [Instance("loglikelihood", {}, p, idx=i) for i, p in enumerate(PAIRS)]  # log_tuco adds an arg
    plain = _lm(pair, 1.0).loglikelihood(fresh)  # the test can fail: α changes the numbers
    assert max(abs(a[0] - b[0]) for a, b in zip(results, plain, strict=True)) > 1e-3


def test_loglikelihood_rolling_equals_the_reference(pair):
    lm = _lm(pair, 0.5)
    results = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (t,), idx=i)
                                        for i, t in enumerate(TEXTS)])
    for text, loglik in zip(TEXTS, results, strict=True):
        tokens = lm.tok_encode(text)
        expected, _ = reference_loglikelihood(*pair, [lm.prefix_token_id], tokens, 0.5)
        assert loglik == pytest.approx(expected, abs=1e-4)  # a float32 sum over ~30 tokens


def test_alpha_one_rolling_is_bit_identical_to_hf(pair):
    ft, _ = pair
    requests = [Instance("loglikelihood_rolling", {}, (t,), idx=i) for i, t in enumerate(TEXTS)]
    hf = HFLM(pretrained=ft, tokenizer=make_tokenizer(), device="cpu", batch_size=3)
    assert _lm(pair, 1.0).loglikelihood_rolling(requests) == hf.loglikelihood_rolling(requests)


# --- generate_until at α ≠ 1 against the naive loop's greedy decoding ------------------------

GEN_KWARGS = {"until": ["\n\n"], "max_gen_toks": 5, "do_sample": False}


def _reference_greedy(ft, base, tokenizer, ids: list[int], alpha: float, n: int) -> list[int]:
    """n greedy steps, each a fresh cache-free naive pass; cut at the first end-of-text token."""
    stops = {tokenizer.eos_token_id, *_as_list(ft.generation_config.eos_token_id)} - {None}
    new: list[int] = []
    for _ in range(n):
        new.append(int(reference_logits(ft, base, ids + new, alpha)[-1].argmax()))
        if new[-1] in stops:
            break
    return new


def _as_list(value) -> list[int]:
    return [] if value is None else [value] if isinstance(value, int) else list(value)


# not gpt2: its tiny tied embedding dominates, greedy text repeats the last token at any α
@pytest.mark.parametrize(("pair", "alpha"), [("llama", 1.25), ("gemma2", 0.5), ("gpt_neox", 1.25)],
                         indirect=["pair"])
def test_generate_until_equals_the_reference_greedy_decoding(pair, alpha):
    lm = _lm(pair, alpha)
    requests = [Instance("generate_until", {}, (p, dict(GEN_KWARGS)), idx=i) for i, p in enumerate(PROMPTS)]
    got = lm.generate_until(requests)
    for prompt, text in zip(PROMPTS, got, strict=True):
        ids = lm.tok_batch_encode([prompt])[0][0].tolist()
        new = _reference_greedy(*pair, lm.tokenizer, ids, alpha, GEN_KWARGS["max_gen_toks"])
        assert text == lm.tok_decode(new).split("\n\n")[0], prompt
    lm.alpha = 1.0
    fresh = [Instance("generate_until", {}, (p, dict(GEN_KWARGS)), idx=i) for i, p in enumerate(PROMPTS)]
    assert lm.generate_until(fresh) != got  # the test can fail: α changes the text

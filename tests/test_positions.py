"""Pairs whose configs differ above the blocks (rotary settings, sliding windows, layer types): each
base block gets the positions and masks the base model itself computes, checked against a hybrid
model built here (fine-tuned embedding, final norm and head; base blocks with the base's config)."""

from __future__ import annotations

import copy

import pytest
import torch
import transformers as tf
from transformers import AutoModelForCausalLM
from transformers.cache_utils import StaticCache

from tests.helpers.naive import record_block_calls
from tests.helpers.position_pairs import IDS, pair_with_configs, shared_prefix_requests
from tests.helpers.tiny_models import ARCHITECTURES, LLAMA_LIKE, make_pair, make_tokenizer
from tuco_eval.core.joint import Joint
from tuco_eval.core.layers import find_blocks
from tuco_eval.core.pair import check_configs, join, load_pair
from tuco_eval.core.positions import BasePositions, above_block_differences, base_positions
from tuco_eval.util.errors import TucoError

LLAMA3 = {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 16, "rope_theta": 10000.0}


def _block_prefix(model) -> str:
    blocks = find_blocks(model)
    return next(name for name, module in model.named_modules() if module is blocks) + "."


def _hybrid(ft, base):
    """The base model (its blocks, its config: its positions and masks) with the fine-tuned
    embedding, final norm and head: what α = 0 must compute."""
    hybrid = copy.deepcopy(base)
    prefix = _block_prefix(ft)
    outside = {k: v for k, v in ft.state_dict().items() if not k.startswith(prefix)}
    missing, unexpected = hybrid.load_state_dict(outside, strict=False)
    assert not unexpected and all(k.startswith(prefix) for k in missing)
    return hybrid.eval()


def _logits(model, ids=IDS):
    with torch.no_grad():
        return model(ids).logits


def _joint_logits(joint, ids=IDS):
    with torch.no_grad(), joint.active():
        return joint.model(ids).logits


def _block_calls(model, ids):
    return record_block_calls(model, ids)


def _naive_llama(ft, base, ids, alpha):
    """x_{l+1} = lerp(base_l(x_l; base positions), ft_l(x_l; ft positions), α), FT norm and head."""
    ft_calls, base_calls = _block_calls(ft, ids), _block_calls(base, ids)
    x = ft_calls[0][0][0]
    with torch.no_grad():
        for ft_block, base_block, (_, ft_kw), (_, base_kw) in zip(
            find_blocks(ft), find_blocks(base), ft_calls, base_calls, strict=True
        ):
            x = torch.lerp(base_block(x, **base_kw), ft_block(x, **ft_kw), alpha)
        return ft.lm_head(ft.model.norm(x))


ROPE_CASES = {
    "rope_theta": (dict(rope_theta=1e6), dict(rope_theta=1e4)),
    "linear": (dict(rope_parameters={"rope_type": "linear", "factor": 4.0, "rope_theta": 1e4}),
               dict(rope_theta=1e4)),
    "llama3": (dict(rope_theta=1e4), dict(rope_parameters=LLAMA3)),
    "dynamic": (dict(rope_theta=1e4, max_position_embeddings=16),
                dict(rope_parameters={"rope_type": "dynamic", "factor": 4.0, "rope_theta": 1e4},
                     max_position_embeddings=16)),
}


def _llama_pair(case):
    ft_kw, base_kw = ROPE_CASES[case]
    common = {**LLAMA_LIKE, "max_position_embeddings": 256}
    return pair_with_configs(tf.LlamaForCausalLM, tf.LlamaConfig(**{**common, **ft_kw}),
                 tf.LlamaConfig(**{**common, **base_kw}))


@pytest.mark.parametrize("case", sorted(ROPE_CASES))
def test_rope_difference_alpha_zero_is_hybrid_one_is_finetuned(case):
    ft, base = _llama_pair(case)
    assert "rope_parameters" in above_block_differences(ft.config, base.config)
    joint = join(ft, base, alpha=0.0)
    assert isinstance(joint.positions, BasePositions)
    hybrid = _logits(_hybrid(ft, base))
    assert torch.allclose(_joint_logits(joint), hybrid, atol=1e-5)
    # the test can fail: the fine-tuned model's positions in the base blocks are another model
    wrong = Joint(ft, [b.forward for b in find_blocks(base)], alpha=0.0)
    assert (_joint_logits(wrong) - hybrid).abs().max() > 1e-3
    joint.alpha = 1.0
    assert torch.equal(_joint_logits(joint), _logits(ft))


@pytest.mark.parametrize("case", ["rope_theta", "llama3"])
def test_rope_difference_half_alpha_equals_naive_loop(case):
    ft, base = _llama_pair(case)
    joint = join(ft, base, alpha=0.5)
    assert torch.allclose(_joint_logits(joint), _naive_llama(ft, base, IDS, 0.5), atol=1e-5)


SLIDING_CASES = {
    "mistral sliding_window": (
        tf.MistralForCausalLM,
        tf.MistralConfig(sliding_window=12, **LLAMA_LIKE),
        tf.MistralConfig(sliding_window=4, **LLAMA_LIKE),
    ),
    "qwen2 layer_types": (
        tf.Qwen2ForCausalLM,
        tf.Qwen2Config(**LLAMA_LIKE),  # all layers full attention
        tf.Qwen2Config(use_sliding_window=True, sliding_window=4, max_window_layers=1, **LLAMA_LIKE),
    ),
    "gemma2 sliding_window": (
        tf.Gemma2ForCausalLM,
        tf.Gemma2Config(head_dim=16, sliding_window=16, **LLAMA_LIKE),
        tf.Gemma2Config(head_dim=16, sliding_window=3, **LLAMA_LIKE),
    ),
}


@pytest.mark.parametrize("case", sorted(SLIDING_CASES))
def test_sliding_window_difference_alpha_zero_is_hybrid(case):
    ft, base = pair_with_configs(*SLIDING_CASES[case])
    joint = join(ft, base, alpha=0.0)
    assert joint.positions is not None
    hybrid = _logits(_hybrid(ft, base))
    assert torch.allclose(_joint_logits(joint), hybrid, atol=1e-5)
    wrong = Joint(ft, [b.forward for b in find_blocks(base)], alpha=0.0)
    assert (_joint_logits(wrong) - hybrid).abs().max() > 1e-3


def test_attention_scale_inside_the_blocks_is_already_per_side():
    """Gemma2's query_pre_attn_scalar is read by each attention module from its own config: no
    extra work, and α = 0 still is the hybrid."""
    ft, base = pair_with_configs(
        tf.Gemma2ForCausalLM,
        tf.Gemma2Config(head_dim=16, query_pre_attn_scalar=4, attn_logit_softcapping=5.0, **LLAMA_LIKE),
        tf.Gemma2Config(head_dim=16, query_pre_attn_scalar=64, attn_logit_softcapping=50.0, **LLAMA_LIKE),
    )
    assert base_positions(ft, base) is None
    joint = join(ft, base, alpha=0.0)
    assert joint.positions is None
    hybrid = _logits(_hybrid(ft, base))
    assert torch.allclose(_joint_logits(joint), hybrid, atol=1e-5)
    assert (_logits(ft) - _logits(base)).abs().max() > 1e-2


def test_cached_greedy_generation_at_alpha_zero_is_the_hybrids():
    ft, base = _llama_pair("rope_theta")
    joint, hybrid = join(ft, base, alpha=0.0), _hybrid(ft, base)
    kwargs = dict(max_new_tokens=12, do_sample=False, output_scores=True, return_dict_in_generate=True,
                  pad_token_id=0)
    prompt = IDS[:, :16]
    with torch.no_grad(), joint.active():
        ours = ft.generate(prompt, attention_mask=torch.ones_like(prompt), **kwargs)
    with torch.no_grad():
        theirs = hybrid.generate(prompt, attention_mask=torch.ones_like(prompt), **kwargs)
    assert torch.equal(ours.sequences, theirs.sequences)
    assert torch.allclose(torch.stack(ours.scores), torch.stack(theirs.scores), atol=1e-4)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_base_positions_are_a_no_op_when_the_configs_agree(arch):
    """The mechanism on every architecture: forced on for equal configs it changes nothing,
    with or without a cache."""
    ft, base = make_pair(arch)
    assert base_positions(ft, base) is None  # and by default it is not even built
    plain = Joint(ft, [b.forward for b in find_blocks(base)], alpha=0.3)
    forced = Joint(ft, [b.forward for b in find_blocks(base)], alpha=0.3, positions=BasePositions(ft, base))
    ids = IDS[:, :11]
    assert torch.equal(_joint_logits(forced, ids), _joint_logits(plain, ids))
    kwargs = dict(max_new_tokens=4, do_sample=False, output_scores=True, return_dict_in_generate=True,
                  pad_token_id=0)
    outs = []
    for joint in (plain, forced):
        with torch.no_grad(), joint.active():
            outs.append(torch.stack(ft.generate(ids[:1], **kwargs).scores))
    assert torch.equal(*outs)


def test_configs_equal_but_for_inert_fields_cost_nothing():
    base = tf.LlamaConfig(**LLAMA_LIKE)
    ft = tf.LlamaConfig(**LLAMA_LIKE, eos_token_id=7, dtype="bfloat16", initializer_range=0.05)
    ft._name_or_path = "somewhere/else"
    assert above_block_differences(ft, base) == []
    ft.rope_parameters = {"rope_type": "default", "rope_theta": 1e6}
    ft.sliding_window = 8
    assert above_block_differences(ft, base) == ["rope_parameters", "sliding_window"]


# --- through the loaders: saved folders, lm-eval ------------------------------------------------


@pytest.fixture(scope="module")
def rope_dirs(tmp_path_factory):
    """(fine-tuned folder, base folder, hybrid model) of a Llama pair with rope_theta 1e6 / 1e4."""
    ft, base = _llama_pair("rope_theta")
    root, tokenizer = tmp_path_factory.mktemp("rope-pair"), make_tokenizer()
    paths = []
    for name, model in (("finetuned", ft), ("base", base)):
        model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = 1, 2, 0
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        paths.append(str(root / name))
    return paths[0], paths[1], _hybrid(ft, base)


def test_load_pair_gives_the_base_its_own_positions(rope_dirs):
    pair = load_pair(rope_dirs[0], rope_dirs[1], alpha=0.0)
    assert pair.joint.positions is not None
    assert torch.allclose(_joint_logits(pair.joint), _logits(rope_dirs[2]), atol=1e-5)
    pair.joint.alpha = 1.0
    assert torch.equal(_joint_logits(pair.joint), _logits(AutoModelForCausalLM.from_pretrained(rope_dirs[0])))


def test_lm_eval_loglikelihoods_at_alpha_zero_are_the_hybrids(rope_dirs, task_manager):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    from tuco_eval.harness.tuco_scaled import TucoScaledLM

    def logliks(model):
        out = simple_evaluate(model=model, tasks=["tiny_mc"], task_manager=task_manager, log_samples=True,
                              bootstrap_iters=0, limit=6)
        return torch.tensor([[r[0][0] for r in s["resps"]]
                             for s in sorted(out["samples"]["tiny_mc"], key=lambda s: s["doc_id"])])

    lm = TucoScaledLM(pretrained=rope_dirs[0], base=rope_dirs[1], alpha=0, device="cpu", batch_size=4)
    hybrid = HFLM(pretrained=rope_dirs[2], tokenizer=lm.tokenizer, device="cpu", batch_size=4)
    assert torch.allclose(logliks(lm), logliks(hybrid), atol=1e-4)


def test_head_count_mismatch_is_refused_before_weights_load(pair_dirs, tmp_path):
    other = tmp_path / "eight-heads"
    config = AutoModelForCausalLM.from_pretrained(pair_dirs[1]).config
    config.num_attention_heads, config.head_dim = 8, 8
    config.save_pretrained(other)  # no weights: refusing must not need them
    make_tokenizer().save_pretrained(other)
    with pytest.raises(TucoError, match="num_attention_heads is 4 for the fine-tuned model and 8 for the base"):
        load_pair(pair_dirs[0], str(other))


@pytest.mark.parametrize("field,value", [("num_key_value_heads", 4), ("head_dim", 32), ("intermediate_size", 96)])
def test_shape_fields_are_refused_with_both_values(field, value):
    base = tf.LlamaConfig(**LLAMA_LIKE)
    ft = tf.LlamaConfig(**LLAMA_LIKE)
    setattr(ft, field, value)
    with pytest.raises(TucoError, match=f"{field} is {value} for the fine-tuned model and {getattr(base, field)}"):
        check_configs(ft, base)


# --- continuing from the cache with differing sliding windows ------------------------------------
# The base blocks' cache layers are built from the base's config: a base block whose window is wider
# than the fine-tuned model's (or that attends to everything) keeps every token it attends to.

WINDOW_CASES = {
    "ft window 4, base 8": (tf.MistralConfig(sliding_window=4, **LLAMA_LIKE),
                            tf.MistralConfig(sliding_window=8, **LLAMA_LIKE)),
    "ft window 4, base full": (tf.MistralConfig(sliding_window=4, **LLAMA_LIKE),
                               tf.MistralConfig(sliding_window=None, **LLAMA_LIKE)),
}


def _window_joint(case, alpha):
    ft, base = pair_with_configs(tf.MistralForCausalLM, *(copy.deepcopy(c) for c in WINDOW_CASES[case]))
    ft.generation_config.eos_token_id = None  # always max_new_tokens new tokens
    joint = join(ft, base, alpha=alpha)
    assert joint.positions is not None
    return joint


def _greedy(joint, use_cache, **kwargs):
    ids = IDS[:, :14]
    mask = torch.ones_like(ids)
    mask[1, :5] = 0  # one left-padded row
    with torch.no_grad(), joint.active():
        out = joint.model.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=0,
                                   output_scores=True, return_dict_in_generate=True, use_cache=use_cache, **kwargs)
    return out.sequences, torch.stack(out.scores)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize("case", sorted(WINDOW_CASES))
def test_cached_generation_with_a_narrower_finetuned_window_equals_cache_free(case, alpha):
    joint = _window_joint(case, alpha)
    sequences, scores = _greedy(joint, use_cache=False)
    cached_sequences, cached_scores = _greedy(joint, use_cache=True)
    assert torch.equal(cached_sequences, sequences)
    assert torch.allclose(cached_scores, scores, atol=1e-4)
    # the test can fail: base layers made like the fine-tuned ones forget tokens the base attends to
    joint.positions.cache_layers = lambda cache: None
    assert (_greedy(joint, use_cache=True)[1] - scores).abs().max() > 1e-3


@pytest.mark.parametrize("case", sorted(WINDOW_CASES))
def test_static_cache_with_differing_windows(case):
    """Called directly, a static cache gets the base's own layers and is exact; so is generate, which
    expands a static cache's masks beforehand for the fine-tuned config (the base then builds its own
    from the 2-D mask: tests/test_silent_paths.py)."""
    joint = _window_joint(case, 0.5)
    ids = IDS[:, :14]
    with torch.no_grad(), joint.active():
        reference = joint.model(ids, use_cache=False).logits
        cache = StaticCache(config=joint.model.config, max_cache_len=20)
        first = joint.model(ids[:, :9], past_key_values=cache, use_cache=True).logits
        rest = joint.model(ids[:, 9:], past_key_values=cache, use_cache=True).logits
    assert torch.allclose(torch.cat([first, rest], 1), reference, atol=1e-5)
    sequences, scores = _greedy(joint, use_cache=False)
    static_sequences, static_scores = _greedy(joint, use_cache=True, cache_implementation="static")
    assert torch.equal(static_sequences, sequences)
    assert torch.allclose(static_scores, scores, atol=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize("case", sorted(WINDOW_CASES))
def test_prefix_reuse_with_a_narrower_finetuned_window_equals_the_plain_path(case, alpha):
    from tuco_eval.harness.tuco_scaled import TucoScaledLM

    ft, base = pair_with_configs(tf.MistralForCausalLM, *(copy.deepcopy(c) for c in WINDOW_CASES[case]))
    lm = TucoScaledLM(pretrained=ft, base=base, tokenizer=make_tokenizer(), alpha=alpha, device="cpu",
                      batch_size=4, prefix_reuse=True)
    assert lm.joint.positions is not None
    requests = shared_prefix_requests()
    reused = torch.tensor([r[0] for r in lm._loglikelihood_tokens(requests)])
    lm.prefix_reuse = False
    plain = torch.tensor([r[0] for r in lm._loglikelihood_tokens(requests)])
    # the reference: each whole row through the joint pass, no cache
    with torch.no_grad(), lm.joint.active():
        reference = torch.stack([
            torch.log_softmax(lm.model(torch.tensor([context + continuation]), use_cache=False).logits[0], -1)[
                range(len(context) - 1, len(context) + len(continuation) - 1), continuation].sum()
            for (_, context, continuation) in requests])
    assert torch.allclose(plain, reference, atol=1e-4)
    assert torch.allclose(reused, reference, atol=1e-4)
    lm.prefix_reuse, lm.joint.positions.cache_layers = True, lambda cache: None  # the test can fail
    assert (torch.tensor([r[0] for r in lm._loglikelihood_tokens(requests)]) - reference).abs().max() > 1e-3


def test_generate_until_with_a_narrower_finetuned_window_equals_cache_free(tmp_path, task_manager, monkeypatch):
    from lm_eval import simple_evaluate

    from tuco_eval.harness.tuco_scaled import TucoScaledLM

    ft, base = pair_with_configs(tf.MistralForCausalLM, *(copy.deepcopy(c) for c in WINDOW_CASES["ft window 4, base full"]))
    tokenizer = make_tokenizer()
    for name, model in (("finetuned", ft), ("base", base)):
        model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = 1, 2, 0
        model.save_pretrained(tmp_path / name)
        tokenizer.save_pretrained(tmp_path / name)
    lm = TucoScaledLM(pretrained=str(tmp_path / "finetuned"), base=str(tmp_path / "base"), alpha=0.5,
                      device="cpu", batch_size=4)
    assert lm.joint.positions is not None

    def responses():
        out = simple_evaluate(model=lm, tasks=["tiny_gen"], task_manager=task_manager, log_samples=True,
                              bootstrap_iters=0, limit=8)
        return [s["resps"] for s in sorted(out["samples"]["tiny_gen"], key=lambda s: s["doc_id"])]

    cached = responses()
    original = lm.model.generate
    monkeypatch.setattr(lm.model, "generate", lambda *a, **k: original(*a, **{**k, "use_cache": False}))
    assert cached == responses()


def test_weights_mode_refuses_mixing_pairs_whose_positions_differ(rope_dirs):
    """θ_PT + α·δ is one model with one config: with rope_theta differing there is no exact answer."""
    from tuco_eval.harness.tuco_scaled import TucoScaledLM

    lm = TucoScaledLM(pretrained=rope_dirs[0], base=rope_dirs[1], alpha=1, mode="weights", device="cpu")
    ids = torch.tensor([[1, 5, 9, 12]])
    at_one = lm._model_call(ids)  # α = 1 is the fine-tuned model: nothing mixed
    assert torch.equal(at_one, _logits(AutoModelForCausalLM.from_pretrained(rope_dirs[0]), ids))
    lm.alpha = 0.5
    with pytest.raises(TucoError, match=r"mode=weights at α=0.5 .*rope_parameters.*mode=activation"):
        lm._model_call(ids)
    lm.mode = "logits"  # the logits mode runs the whole base model: its own positions
    assert torch.isfinite(lm._model_call(ids)).all()

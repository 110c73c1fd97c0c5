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

from tests.helpers.naive import naive_tuco
from tests.helpers.tiny_models import FIXTURE_TASKS, make_hybrid
from tuco_eval.harness.tuco_scaled import TucoScaledLM


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


@pytest.mark.parametrize("alpha", [1.0, 1.25])
def test_logged_tuco_equals_the_naive_loop(lm, task_manager, alpha):
    lm.log_tuco, lm.alpha = True, alpha
    try:
        samples = _samples(lm, task_manager, limit=5)
    finally:
        lm.log_tuco, lm.alpha = False, 1.0
    for sample in samples:
        for context, continuation, logged in sample["arguments"]:
            context_enc, _ = lm._encode_pair(context, continuation)  # lm-eval's own encoding
            assert logged["alpha"] == alpha
            assert logged["tuco"] == pytest.approx(naive_tuco(lm.model, lm.base_model, context_enc, alpha),
                                                   abs=1e-5)
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
    for sample in samples:
        prompt, gen_kwargs, logged = sample["arguments"][0]
        # the tokens HFLM generated from: its own batch encoding, truncated as it truncates
        keep = lm.max_length - gen_kwargs.get("max_gen_toks", lm.max_gen_toks)
        ids = lm.tok_batch_encode([prompt], left_truncate_len=keep)[0][0].tolist()
        assert logged["alpha"] == 1.25
        assert logged["tuco"] == pytest.approx(naive_tuco(lm.model, lm.base_model, ids, 1.25), abs=1e-5)
    at_one = naive_tuco(lm.model, lm.base_model, ids, 1.0)  # the test can fail: α moves TuCo
    assert abs(logged["tuco"] - at_one) > 1e-4


def test_logged_tuco_of_a_long_prompt_sees_what_the_generation_saw(lm):
    from lm_eval.api.instance import Instance

    prompt = "the quick brown fox jumps over the lazy dog " * 40  # longer than the 256-token context
    request = Instance("generate_until", {}, (prompt, {"until": ["\n"], "max_gen_toks": 4}), idx=0)
    lm.alpha, lm.log_tuco = 1.25, True
    try:
        lm.generate_until([request])
    finally:
        lm.alpha, lm.log_tuco = 1.0, False
    seen = lm.tok_batch_encode([prompt], left_truncate_len=lm.max_length - 4)[0][0].tolist()
    assert len(lm.tok_encode(prompt)) > lm.max_length > len(seen)
    logged = request.args[2]["tuco"]
    assert logged == pytest.approx(naive_tuco(lm.model, lm.base_model, seen, 1.25), abs=1e-5)


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
    hf = HFLM(pretrained=pair_dirs[0], device="cpu")  # lm-eval's own encoding of each context
    ft, base = (AutoModelForCausalLM.from_pretrained(d).eval() for d in pair_dirs)
    for line in sample_file.read_text().splitlines():
        args = json.loads(line)["arguments"]["gen_args_0"]
        context_enc, _ = hf._encode_pair(args["arg_0"], args["arg_1"])
        assert args["arg_2"]["alpha"] == 1.1
        assert args["arg_2"]["tuco"] == pytest.approx(naive_tuco(ft, base, context_enc, 1.1), abs=1e-5)


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
    from tuco_eval.util.errors import TucoError

    with pytest.raises(TucoError, match="add base="):
        TucoScaledLM(pretrained=pair_dirs[0], device="cpu")
    with pytest.raises(TucoError, match="alpha must be a number"):
        TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], alpha="fast", device="cpu")

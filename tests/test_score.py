"""`compute_tuco` and `tuco-eval score`: batching, padding, prompt files, the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.naive import naive_tuco
from tuco_eval.core.pair import load_pair
from tuco_eval.core.tuco import compute_tuco, read_prompts
from tuco_eval.util.errors import TucoError

TEXTS = [
    "Is the following statement something you would say?",
    "the quick brown fox",
    "Question: what is fine-tuning? It changes a pre-trained model with new data. A B C D",
    "Yes",
    "the lazy dog jumps over 0 1 2 3",
]


@pytest.fixture(scope="module")
def pair(pair_dirs):
    return load_pair(*pair_dirs)


@pytest.mark.parametrize("side", ["right", "left"])
def test_next_token_logits_are_the_full_passes_at_each_last_token(pair, monkeypatch, side):
    import torch

    import tuco_eval.core.tuco as tuco_module
    from tuco_eval.core.batching import last_token_positions, pad_batch, position_ids_from_mask

    encoded = [pair.tokenizer(t)["input_ids"] for t in TEXTS]
    ids, mask = pad_batch(encoded, 0, side)
    sliced = tuco_module.tuco_of_batch(pair.joint, ids, mask, alpha=1.3)["logits"]
    monkeypatch.setattr(tuco_module, "takes_logits_per_row", lambda model: False)
    full = tuco_module.tuco_of_batch(pair.joint, ids, mask, alpha=1.3)["logits"]
    with torch.no_grad():  # and they are the α-scaled model's own logits at the last real token
        pair.joint.alpha, saved = 1.3, pair.joint.alpha
        with pair.joint.active():
            every = pair.model(input_ids=ids, attention_mask=mask,
                               position_ids=position_ids_from_mask(mask)).logits
        pair.joint.alpha = saved
    last = last_token_positions(mask)
    assert sliced.shape == (len(TEXTS), pair.model.config.vocab_size)
    assert torch.allclose(sliced, full, atol=1e-5)
    assert torch.allclose(sliced, every[torch.arange(len(TEXTS)), last], atol=1e-5)


def test_tuco_does_not_depend_on_batch_or_padding_side(pair):
    encoded = [pair.tokenizer(t)["input_ids"] for t in TEXTS]
    naive = [naive_tuco(pair.model, pair.base, ids, 1.0) for ids in encoded]  # one prompt, no padding
    reference = compute_tuco(pair.joint, pair.tokenizer, TEXTS, batch_size=1, progress=False)
    assert [r["tuco"] for r in reference] == pytest.approx(naive, abs=1e-5)
    assert [r["n_tokens"] for r in reference] == [len(ids) for ids in encoded]
    for batch_size, side in ((2, "right"), (5, "left"), (3, "left")):
        got = compute_tuco(pair.joint, pair.tokenizer, TEXTS, batch_size=batch_size,
                           padding_side=side, progress=False)
        for r, g, expected in zip(reference, got, naive, strict=True):
            assert g["n_tokens"] == r["n_tokens"]
            assert abs(g["tuco"] - expected) < 1e-5
            assert g["per_layer_ftc_l1"] == pytest.approx(r["per_layer_ftc_l1"], rel=1e-4)
    assert all(len(r["per_layer_ptc_l1"]) == 3 for r in reference)


def test_tuco_is_measured_at_alpha_one_whatever_the_joint_alpha(pair):
    pair.joint.alpha = 1.7
    try:
        got = compute_tuco(pair.joint, pair.tokenizer, TEXTS[:2], progress=False)
    finally:
        pair.joint.alpha = 1.0
    for text, record in zip(TEXTS[:2], got, strict=True):
        ids = pair.tokenizer(text)["input_ids"]
        assert record["tuco"] == pytest.approx(naive_tuco(pair.model, pair.base, ids, 1.0), abs=1e-5)
        # the test can fail: at the joint's α the value would differ
        assert abs(record["tuco"] - naive_tuco(pair.model, pair.base, ids, 1.7)) > 1e-4


def test_chat_template_wraps_the_prompt(pair):
    import jinja2

    chat = compute_tuco(pair.joint, pair.tokenizer, TEXTS[:1], chat_template=True, progress=False)[0]
    rendered = jinja2.Template(pair.tokenizer.chat_template).render(
        messages=[{"role": "user", "content": TEXTS[0]}], add_generation_prompt=True)
    assert rendered == f"<|user|>{TEXTS[0]}</s><|assistant|>"  # tiny_models.CHAT_TEMPLATE, by hand
    # the template writes no BOS, so the tokenizer's one BOS opens the prompt
    ids = [pair.tokenizer.bos_token_id, *pair.tokenizer(rendered, add_special_tokens=False)["input_ids"]]
    assert ids[-1] == pair.tokenizer.convert_tokens_to_ids("<|assistant|>")
    assert chat["n_tokens"] == len(ids)
    assert chat["tuco"] == pytest.approx(naive_tuco(pair.model, pair.base, ids, 1.0), abs=1e-5)


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_prompt_file_errors_name_file_and_line(tmp_path):
    with pytest.raises(TucoError, match=r"bad\.jsonl:2: not valid JSON"):
        read_prompts(_write(tmp_path / "bad.jsonl", ['{"text": "a"}', '{"text": ']))
    with pytest.raises(TucoError, match=r"nofield\.jsonl:1: no field 'text' \(use --text-field"):
        read_prompts(_write(tmp_path / "nofield.jsonl", ['{"prompt": "a"}']))
    with pytest.raises(TucoError, match="no prompts in the file"):
        read_prompts(_write(tmp_path / "empty.jsonl", ["", "  "]))
    with pytest.raises(TucoError, match="must be a non-empty string"):
        read_prompts(_write(tmp_path / "num.jsonl", ['{"text": 3}']))
    with pytest.raises(TucoError, match="no such file"):
        read_prompts(tmp_path / "missing.jsonl")
    assert read_prompts(_write(tmp_path / "ok.jsonl", ['{"id": "x", "text": "a"}', '{"text": "b"}'])) == [
        ("x", "a"), (2, "b")]


def _cli(*args, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "tuco_eval", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def test_score_command_end_to_end(pair, pair_dirs, tmp_path):
    prompts = _write(tmp_path / "prompts.jsonl",
                     [json.dumps({"id": f"p{i}", "text": t}) for i, t in enumerate(TEXTS)])
    out = tmp_path / "tuco.jsonl"
    done = _cli("score", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}", "--input", str(prompts),
                "--output", str(out), "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = compute_tuco(pair.joint, pair.tokenizer, TEXTS, progress=False)
    assert [r["id"] for r in rows] == [f"p{i}" for i in range(len(TEXTS))]
    assert [r["tuco"] for r in rows] == pytest.approx([e["tuco"] for e in expected], abs=1e-5)
    assert {"ptc_l1", "ftc_l1", "n_tokens", "per_layer_ptc_l1", "per_layer_ftc_l1"} <= set(rows[0])


@pytest.mark.parametrize("extra,message", [
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--text-field", "prompt"], "no field 'prompt'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_score_command_bad_input_exits_2_with_one_line(pair_dirs, tmp_path, run_cli, extra, message):
    # in process (no interpreter start per case); the missing-model test below runs the real CLI
    prompts = _write(tmp_path / "p.jsonl", ['{"text": "hello"}'])
    code, _, err = run_cli(["score", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}", "--input", prompts,
                            "--output", tmp_path / "o.jsonl", *extra])
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_score_command_missing_model_exits_2(pair_dirs, tmp_path):
    prompts = _write(tmp_path / "p.jsonl", ['{"text": "hello"}'])
    done = _cli("score", "--model-args", f"pretrained={pair_dirs[0]},base={str(tmp_path / 'nowhere')}",
                "--input", str(prompts), "--output", str(tmp_path / "o.jsonl"))
    assert done.returncode == 2 and "cannot load the base model" in done.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_score_counts_prompts_truncated_to_the_context_once(pair_dirs, tmp_path, capsys, monkeypatch):
    from tuco_eval.cli import main
    from tuco_eval.commands import score as score_command

    monkeypatch.setattr(score_command, "SCORE_PIECE", 1)  # the count spans pieces
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"text": "the quick brown fox " * 40}) + "\n" + json.dumps({"text": "Yes"}) + "\n")
    out = tmp_path / "t.jsonl"
    assert main(["score", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}",
                 "--input", str(prompts), "--output", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["truncated"] for r in records] == [True, False]
    assert records[0]["n_tokens"] == 256  # the tiny models' context
    said = capsys.readouterr().out
    assert said.count("truncated from the left") == 1 and "1 prompt(s)" in said

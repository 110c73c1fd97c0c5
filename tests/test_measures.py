"""KL(p_FT ‖ p_PT) and the token-distribution-shift class, against naive computations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.helpers.naive import naive_next_token_measures, naive_tuco
from tests.helpers.tiny_models import make_pair, save_pair
from tuco_eval.core.measures import (
    SHIFT_CLASSES,
    measures_from_logits,
    next_token_measures,
    shift_codes,
)
from tuco_eval.core.pair import load_pair
from tuco_eval.core.tuco import compute_tuco, pad_batch

TEXTS = ["Is the following statement something you would say?", "the quick brown fox",
         "Question: what is fine-tuning?", "Yes"]

REPO = str(Path(__file__).resolve().parents[1])  # subprocesses run this checkout


def test_measures_from_logits_equal_naive_loop():
    gen = torch.Generator().manual_seed(0)
    ft, base = torch.randn(6, 50, generator=gen) * 3, torch.randn(6, 50, generator=gen) * 3
    base[1] = ft[1]  # same distribution: KL 0, rank 1
    base[2, ft[2].argmax()] = base[2].max() - 0.01  # second under the base
    out = measures_from_logits(ft, base)
    for row in range(6):
        kl, token, rank, name = naive_next_token_measures(ft[row], base[row])
        assert out["kl"][row].item() == pytest.approx(kl, abs=1e-5)
        assert (out["token"][row].item(), out["base_rank"][row].item()) == (token, rank)
        assert SHIFT_CLASSES[out["shift"][row]] == name
    assert out["kl"][1].item() == pytest.approx(0, abs=1e-6) and out["base_rank"][1] == 1
    assert out["base_rank"][2] == 2


def test_shift_class_boundaries():
    codes = shift_codes(torch.tensor([1, 2, 3, 4, 90]))
    assert [SHIFT_CLASSES[c] for c in codes] == ["unshifted", "marginal", "marginal", "shifted", "shifted"]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_next_token_measures_on_padded_batches_equal_one_prompt_at_a_time(arch):
    ft, base = make_pair(arch)
    rows = [torch.randint(3, 96, (n,), generator=torch.Generator().manual_seed(n)).tolist() for n in (3, 8, 5)]
    ids, mask = pad_batch(rows, 0, side="left")
    out = next_token_measures(ft, base, ids, mask)
    for i, row in enumerate(rows):
        with torch.no_grad():
            one = torch.tensor([row])
            kl, token, rank, _ = naive_next_token_measures(ft(one).logits[0, -1], base(one).logits[0, -1])
        assert out["kl"][i].item() == pytest.approx(kl, abs=1e-4)
        assert (out["token"][i].item(), out["base_rank"][i].item()) == (token, rank)
    assert len({round(v, 4) for v in out["kl"].tolist()}) == 3 and (out["kl"] > 0).all()


@pytest.fixture(scope="module")
def pair_dirs(tmp_path_factory):
    return save_pair(tmp_path_factory.mktemp("pair"), "llama")


def test_compute_tuco_adds_the_measures_with_one_base_pass(pair_dirs):
    pair = load_pair(*pair_dirs)
    calls = []
    forward = pair.base.forward

    def counted(*args, **kwargs):
        calls.append(1)
        return forward(*args, **kwargs)

    pair.base.forward = counted
    from tuco_eval.commands.score import _base_logits

    results = compute_tuco(pair.joint, pair.tokenizer, TEXTS, batch_size=2, progress=False,
                           base_logits=_base_logits(pair))
    assert len(calls) == 2  # one base pass per batch
    pair.base.forward = forward
    for text, result in zip(TEXTS, results, strict=True):
        ids = torch.tensor([pair.tokenizer(text)["input_ids"]])
        with torch.no_grad():
            kl, _, rank, name = naive_next_token_measures(pair.model(ids).logits[0, -1], pair.base(ids).logits[0, -1])
        assert result["kl"] == pytest.approx(kl, abs=1e-4)
        assert (result["base_rank"], result["shift"]) == (rank, name)
        assert result["tuco"] == pytest.approx(naive_tuco(pair.model, pair.base, ids[0].tolist(), 1.0), abs=1e-5)


def test_score_cli_kl_and_shift_flags(pair_dirs, tmp_path, run_cli):
    # in process: `score` in a fresh interpreter is tested in test_score.py
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    outputs = {}
    for flags in ([], ["--kl"], ["--kl", "--shift"]):
        out = tmp_path / f"out{len(flags)}.jsonl"
        code, _, err = run_cli(["score", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}",
                                "--input", prompts, "--output", out, *flags])
        assert code == 0, err[-2000:]
        outputs[len(flags)] = [json.loads(line) for line in out.read_text().splitlines()]
    assert not {"kl", "shift"} & outputs[0][0].keys()
    assert "kl" in outputs[1][0] and "shift" not in outputs[1][0]
    assert {r["shift"] for r in outputs[2]} <= set(SHIFT_CLASSES)
    assert [r["kl"] for r in outputs[2]] == [r["kl"] for r in outputs[1]]
    assert [r["tuco"] for r in outputs[2]] == [r["tuco"] for r in outputs[0]]

"""Few-shot prefixes computed once: grouping, equality with the plain path, one prefix pass per group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lm_eval.api.instance import Instance

from tests.helpers.tiny_models import FIXTURE_TASKS, VOCAB, make_pair, make_tokenizer, save_pair
from tuco_eval.core.compat import takes_logits_per_row
from tuco_eval.harness import prefix_scoring
from tuco_eval.harness.prefix import common_prefix_length, group_by_prefix, suffix_row
from tuco_eval.harness.tuco_scaled import TucoScaledLM

SHOTS = " ".join(
    f"Question: what is fine-tuning {n}? A B C D Answer: {'ABCD'[n % 4]}" for n in range(5)
)
QUESTIONS = [f" Question: the quick brown fox {n} jumps over {n * 7} ? A B C D Answer:" for n in range(6)]
CHOICES = [" A", " B", " C", " D"]


def _lm(arch: str, alpha: float, prefix_reuse: bool) -> TucoScaledLM:
    ft, base = make_pair(arch)
    return TucoScaledLM(pretrained=ft, base=base, tokenizer=make_tokenizer(), alpha=alpha,
                        device="cpu", batch_size=4, prefix_reuse=prefix_reuse)


def _instances() -> list[Instance]:
    pairs = [(SHOTS + q, c) for q in QUESTIONS for c in CHOICES]
    pairs.append(("Is the following statement something you would say?", " Yes"))  # no shared prefix
    return [Instance("loglikelihood", {}, pair, idx=i) for i, pair in enumerate(pairs)]


# --- grouping ---------------------------------------------------------------------------------

def test_group_finds_the_shared_prefix_and_keeps_a_suffix_token():
    shared = list(range(100))
    requests = [(shared + [200, 201], [5]), (shared + [202], [6]), (shared + [200, 201], [7])]
    groups, rest = group_by_prefix(requests, max_length=1000)
    assert rest == [] and len(groups) == 1
    assert groups[0].prefix == tuple(shared) and groups[0].members == (0, 1, 2)
    assert suffix_row(*requests[0], 100) == (200, 201)  # the last context token stays


def test_tasks_behind_one_long_header_each_get_their_own_prefix():
    header = list(range(40))  # e.g. a chat template's system turn, shared by every task
    shots = {task: [1000 + task] + list(range(2000 + 300 * task, 2200 + 300 * task)) for task in (0, 1)}
    requests = [(header + shots[task] + [3000 + doc, 3001], [c]) for task in (0, 1)
                for doc in range(3) for c in (1, 2)]
    groups, rest = group_by_prefix(requests, max_length=1000)
    assert rest == [] and len(groups) == 2
    assert [g.members for g in groups] == [(0, 1, 2, 3, 4, 5), (6, 7, 8, 9, 10, 11)]
    assert [len(g.prefix) for g in groups] == [241, 241]  # header + the task's own shots


def test_a_split_that_saves_too_little_is_not_made():
    shared = list(range(100))
    # two docs open with the same 3 tokens: a second prefix pass would cost more than it saves
    requests = [(shared + [7, 8, 9, n], [1]) for n in (1, 2)] + [(shared + [5, n], [1]) for n in (1, 2)]
    groups, _ = group_by_prefix(requests, max_length=1000)
    assert len(groups) == 1 and len(groups[0].prefix) == 100


def test_prefix_capped_so_every_context_keeps_one_token():
    shared = list(range(100))
    groups, _ = group_by_prefix([(shared, [1]), (shared + [7], [2])], max_length=1000)
    assert len(groups[0].prefix) == 99


def test_short_prefixes_and_single_contexts_go_to_the_plain_path():
    short = [(list(range(40)) + [n] * 40, [1]) for n in (200, 201)]  # 40 shared tokens < 64
    same = [(list(range(100)), [c]) for c in (1, 2, 3)]  # one context, many choices
    groups, rest = group_by_prefix(short + same, max_length=1000)
    assert groups == [] and rest == [0, 1, 2, 3, 4]


def test_requests_needing_left_truncation_go_to_the_plain_path():
    shared = list(range(100))
    requests = [(shared + [200], [1]), (shared + [201], [2]), (shared + [202] * 20, [3, 4])]
    groups, rest = group_by_prefix(requests, max_length=110)
    assert rest == [2] and groups[0].members == (0, 1)


def test_common_prefix_length():
    assert common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix_length([[5], [6]]) == 0


# --- equality with HFLM's path ----------------------------------------------------------------

@pytest.mark.parametrize("arch", ["llama", "mistral", "gemma2"])
@pytest.mark.parametrize("alpha", [1.0, 1.3])
def test_reuse_equals_the_plain_path(arch, alpha, monkeypatch):
    prefills: list[int] = []
    original = prefix_scoring.PrefixScorer.prefill
    monkeypatch.setattr(prefix_scoring.PrefixScorer, "prefill",
                        lambda self, prefix: prefills.append(len(prefix)) or original(self, prefix))
    lm = _lm(arch, alpha, True)
    reused = lm.loglikelihood(_instances())
    # reuse happened: one prefill, of the tokens all 24 few-shot contexts share (counted here)
    contexts = [lm._encode_pair(*i.args)[0] for i in _instances()[:-1]]
    assert prefills == [len(os.path.commonprefix(contexts))]
    plain = _lm(arch, alpha, False).loglikelihood(_instances())
    assert prefills == [len(os.path.commonprefix(contexts))]  # the plain path prefilled nothing
    assert torch.allclose(torch.tensor([r[0] for r in reused]), torch.tensor([p[0] for p in plain]), atol=1e-4)
    assert [r[1] for r in reused] == [p[1] for p in plain]


def test_greedy_flags_match_where_the_continuation_is_greedy():
    lm = _lm("llama", 1.3, True)
    context = lm.tok_encode(SHOTS)
    rows = [context + lm.tok_encode(q) for q in QUESTIONS[:3]]
    with torch.no_grad(), lm.scaling.active():
        greedy = [int(lm.model(torch.tensor([r])).logits[0, -1].argmax()) for r in rows]
    requests = [(("", ""), row, [(token + offset) % VOCAB]) for row, token in zip(rows, greedy, strict=True)
                for offset in (0, 1)]
    reused = lm._loglikelihood_tokens(requests)
    lm.prefix_reuse = False
    plain = lm._loglikelihood_tokens(requests)
    assert [r[1] for r in reused] == [p[1] for p in plain] == [True, False] * 3
    assert torch.allclose(torch.tensor([r[0] for r in reused]), torch.tensor([p[0] for p in plain]), atol=1e-4)


def _mixed_requests() -> list:
    gen = torch.Generator().manual_seed(0)
    shared = torch.randint(3, VOCAB, (90,), generator=gen).tolist()
    requests = []
    for doc in range(5):
        context = shared + torch.randint(3, VOCAB, (3 + doc,), generator=gen).tolist()
        for length in (1, 3, 2):
            requests.append((("", ""), context, torch.randint(3, VOCAB, (length,), generator=gen).tolist()))
    return requests


def _assert_reuse_is_plain(lm: TucoScaledLM, requests: list, monkeypatch) -> None:
    prefills: list[int] = []
    original = prefix_scoring.PrefixScorer.prefill
    monkeypatch.setattr(prefix_scoring.PrefixScorer, "prefill",
                        lambda self, prefix: prefills.append(len(prefix)) or original(self, prefix))
    lm.prefix_reuse = True
    reused = lm._loglikelihood_tokens(requests)
    assert prefills == [90]  # the reuse path ran, once
    lm.prefix_reuse = False
    plain = lm._loglikelihood_tokens(requests)
    assert torch.allclose(torch.tensor([r[0] for r in reused]), torch.tensor([p[0] for p in plain]), atol=1e-4)
    assert [r[1] for r in reused] == [p[1] for p in plain]


@pytest.mark.parametrize("slices", [True, False])
def test_continuations_of_mixed_lengths(monkeypatch, slices):
    lm = _lm("llama", 1.3, True)
    if slices and not takes_logits_per_row(lm.model):
        pytest.skip("this transformers release takes no per-row logits_to_keep (tests/test_compat.py)")
    monkeypatch.setattr(prefix_scoring, "takes_logits_per_row", lambda model: slices)
    _assert_reuse_is_plain(lm, _mixed_requests(), monkeypatch)


def test_lora_adapter_pair(tmp_path, monkeypatch):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    _, base_dir = save_pair(tmp_path, "llama")
    torch.manual_seed(3)
    adapter = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir), LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False))
    adapter.save_pretrained(tmp_path / "lora")
    lm = TucoScaledLM(pretrained=str(tmp_path / "lora"), base=base_dir, alpha=1.3, device="cpu", batch_size=4)
    _assert_reuse_is_plain(lm, _mixed_requests(), monkeypatch)


def test_prefix_computed_once_per_group():
    lm = _lm("llama", 1.3, True)
    lengths: list[int] = []
    handle = lm.model.register_forward_pre_hook(lambda module, args: lengths.append(args[0].shape[1]))
    try:
        lm.loglikelihood(_instances())
    finally:
        handle.remove()
    prefix = len(lm.tok_encode(SHOTS))
    assert [n for n in lengths if n >= prefix] == [n for n in lengths if n >= 64]  # no full-length row
    assert len([n for n in lengths if n >= 64]) == 1  # the one prefix pass
    assert len(lengths) < len(QUESTIONS) + 2  # suffixes were batched


@pytest.mark.parametrize("alpha", [1.0, 1.3])
def test_logged_tuco_on_the_reuse_path_equals_the_plain_path(alpha, monkeypatch):
    """TuCo logging keeps shared prefixes (the sweep logs it at α = 1 by default): the same TuCo
    as the plain path, which tests/test_lm.py checks against `tuco_of_batch`."""
    prefills: list[int] = []
    original = prefix_scoring.PrefixScorer.prefill
    monkeypatch.setattr(prefix_scoring.PrefixScorer, "prefill",
                        lambda self, prefix: prefills.append(len(prefix)) or original(self, prefix))
    logged = {}
    for reuse in (True, False):
        lm = _lm("llama", alpha, reuse)
        lm.log_tuco = True
        instances = _instances()
        logged[reuse] = (lm.loglikelihood(instances), [i.args[-1]["tuco"] for i in instances])
    assert len(prefills) == 1  # the reuse path ran, once
    (reused, reused_tuco), (plain, plain_tuco) = logged[True], logged[False]
    assert torch.allclose(torch.tensor(reused_tuco), torch.tensor(plain_tuco), atol=1e-5)
    assert len({round(t, 4) for t in plain_tuco}) > 2  # docs differ in TuCo: a wrong position would show
    assert torch.allclose(torch.tensor([r[0] for r in reused]), torch.tensor([p[0] for p in plain]), atol=1e-4)


def _lm_eval_samples(pair_dirs, out: Path, reuse: bool) -> list[dict]:
    """`lm_eval --model tuco_scaled` 5-shot on the fixture task, its logged samples in doc order."""
    lm_eval = Path(sys.executable).with_name("lm_eval")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run(
        [str(lm_eval), "--model", "tuco_scaled", "--model_args",
         f"pretrained={pair_dirs[0]},base={pair_dirs[1]},alpha=1.3,log_tuco=true,prefix_reuse={reuse}",
         "--tasks", "tiny_mc_fewshot", "--num_fewshot", "5", "--include_path", FIXTURE_TASKS,
         "--device", "cpu", "--batch_size", "4", "--log_samples", "--output_path", str(out)],
        capture_output=True, text=True, env=env, cwd=out.parent, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = next(out.rglob("samples_tiny_mc_fewshot_*.jsonl")).read_text().splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda sample: sample["doc_id"])


@pytest.mark.slow
def test_lm_eval_five_shot_with_reuse_equals_the_plain_path(pair_dirs, tmp_path):
    """The paper's setting through lm-eval's own command line: 5 shots before every doc."""
    reused, plain = (_lm_eval_samples(pair_dirs, tmp_path / str(reuse), reuse) for reuse in (True, False))
    assert [s["doc_id"] for s in reused] == [s["doc_id"] for s in plain] and len(plain) == 12
    for r, p in zip(reused, plain, strict=True):
        assert r["arguments"] == p["arguments"] and r["arguments"]["gen_args_0"]["arg_0"].count("Answer:") == 6
        assert [x[0][0] for x in r["resps"]] == pytest.approx([x[0][0] for x in p["resps"]], abs=1e-4)
        assert [x[0][1] for x in r["resps"]] == [x[0][1] for x in p["resps"]]


# --- zero-shot rows: whole rows, logits only where scored ---------------------------------------

def _zero_shot_requests(max_tokens: int = 90) -> list:
    """Contexts of differing lengths sharing nothing, continuations of 1 to 3 tokens (a rolling
    window and a row lm-eval truncates from the left ride along: both stay on HFLM's path)."""
    gen = torch.Generator().manual_seed(5)
    requests = [(("ctx", "cont"), torch.randint(3, VOCAB, (4 + 3 * doc,), generator=gen).tolist(),
                 torch.randint(3, VOCAB, (length,), generator=gen).tolist()) for doc in range(7) for length in (1, 3, 2)]
    requests.append((None, [1] + torch.randint(3, VOCAB, (8,), generator=gen).tolist(),
                     torch.randint(3, VOCAB, (6,), generator=gen).tolist()))  # a rolling window
    requests.append((("long", "cont"), torch.randint(3, VOCAB, (max_tokens + 5,), generator=gen).tolist(), [7]))
    return requests


@pytest.mark.parametrize("alpha", [1.0, 1.3])
@pytest.mark.parametrize("slices", [True, False])
def test_zero_shot_rows_equal_the_plain_path_and_project_only_scored_positions(alpha, slices, monkeypatch):
    lm = _lm("llama", alpha, True)
    if slices and not takes_logits_per_row(lm.model):
        pytest.skip("this transformers release takes no per-row logits_to_keep (tests/test_compat.py)")
    monkeypatch.setattr(prefix_scoring, "takes_logits_per_row", lambda model: slices)
    monkeypatch.setattr(lm, "_max_length", 90)
    requests = _zero_shot_requests()
    whole: list[list[int]] = []
    original = prefix_scoring.PrefixScorer.score_whole
    monkeypatch.setattr(prefix_scoring.PrefixScorer, "score_whole",
                        lambda self, members, *a, **k: whole.append(list(members)) or original(self, members, *a, **k))
    projected: list[int] = []  # positions the head projects onto the vocabulary, per call
    handle = lm.model.lm_head.register_forward_hook(lambda m, args, out: projected.append(out.shape[:-1].numel()))
    try:
        reused = lm._loglikelihood_tokens(requests)
        # not the rolling window (21), not the truncated row (22); without per-row slicing: none
        assert whole == ([list(range(21))] if slices else [])
        on_whole_path = projected[:6]  # 21 distinct rows in batches of 4, before HFLM's 2 plain rows
        lm.prefix_reuse = False
        plain = lm._loglikelihood_tokens(requests)
    finally:
        handle.remove()
    assert torch.allclose(torch.tensor([r[0] for r in reused]), torch.tensor([p[0] for p in plain]), atol=1e-5)
    assert [r[1] for r in reused] == [p[1] for p in plain]
    row_tokens = sum(len(context) + len(continuation) - 1 for _, context, continuation in requests[:21])
    if slices:  # each batch projects its rows at its longest continuation's 3 positions at most
        assert 21 <= sum(on_whole_path) <= 21 * 3 < row_tokens


def test_zero_shot_rows_log_the_plain_paths_tuco(monkeypatch):
    whole: list[int] = []
    original = prefix_scoring.PrefixScorer.score_whole
    monkeypatch.setattr(prefix_scoring.PrefixScorer, "score_whole",
                        lambda self, members, *a, **k: whole.append(len(members)) or original(self, members, *a, **k))
    logged = {}
    instances = lambda: [Instance("loglikelihood", {}, (q, c), idx=i)  # noqa: E731
                         for i, (q, c) in enumerate((q, c) for q in QUESTIONS for c in CHOICES[:2])]
    for reuse in (True, False):
        lm = _lm("llama", 1.3, reuse)
        lm.log_tuco = True
        batch = instances()
        results = lm.loglikelihood(batch)
        logged[reuse] = [i.args[-1]["tuco"] for i in batch], results
    if not takes_logits_per_row(lm.model):
        pytest.skip("this transformers release takes no per-row logits_to_keep: zero-shot rows take HFLM's path")
    assert whole == [len(QUESTIONS) * 2]  # the own path scored them all
    assert torch.allclose(torch.tensor(logged[True][0]), torch.tensor(logged[False][0]), atol=1e-5)
    assert len({round(t, 4) for t in logged[False][0]}) > 2  # docs differ: a wrong position would show
    assert [r[1] for r in logged[True][1]] == [p[1] for p in logged[False][1]]

"""`tuco-eval sweep --finetuned A,B,C`: a checkpoint series against one base into a ROOT.

Checked against lm-eval's own `hf` model on the base and on each checkpoint, against each
adapter swept alone, and by counting the base's loads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from lm_eval import simple_evaluate
from lm_eval.models.huggingface import HFLM
from transformers import AutoModelForCausalLM, AutoTokenizer

import tuco_eval.sweeps.alphas
from tests.helpers.checkpoint_series import LIMIT, run_series
from tests.helpers.naive import naive_joint
from tests.helpers.tiny_models import FIXTURE_TASKS, make_model
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.store.doc_texts import read_docs
from tuco_eval.store.run_json import read_run_info
from tuco_eval.store.units import list_units, read_unit
from tuco_eval.sweeps.alphas import sweep
from tuco_eval.sweeps.settings import EvalSettings


def _hf_evaluate(task_manager, limit=LIMIT, **hf_args):
    """lm-eval's `hf` on one model, its samples logged (lm-eval's acc_stderr needs bootstrap_iters > 0)."""
    model = HFLM(device="cpu", batch_size=4, **hf_args)
    return simple_evaluate(model=model, tasks=["tiny_mc"], task_manager=task_manager, log_samples=True,
                           bootstrap_iters=1, limit=limit)


def _hf_records(task_manager, limit=LIMIT, **hf_args):
    """lm-eval's `hf` on one model: {doc_id: (log-likelihoods, acc)}."""
    out = _hf_evaluate(task_manager, limit, **hf_args)
    return {s["doc_id"]: ([r[0][0] for r in s["resps"]], float(s["acc"])) for s in out["samples"]["tiny_mc"]}


def _stored(run_dir, alpha=1.0):
    return {r["doc_id"]: (r["loglikelihoods"], r["acc"]) for r in read_unit(run_dir, alpha, "tiny_mc")}


def test_series_of_full_models(series_dirs, pair_dirs, task_manager, tmp_path, loads):
    root = tmp_path / "root"
    pattern = str(series_dirs / "runs" / "sft" / "checkpoint-*")
    done = run_series([pattern], root, pair_dirs, task_manager)
    recorded = done["series"]
    assert done["swept"] == ["step-1", "step-2", "step-3"]
    folders = [str(series_dirs / "runs" / "sft" / f"checkpoint-{s}") for s in (1, 2, 3)]
    # the base loaded once for the whole series, each checkpoint once
    assert sorted(loads) == sorted([pair_dirs[1], *folders])
    assert recorded.to_json() == json.loads((root / "checkpoints.json").read_text()) == {
        "format": 1,
        "base": {"label": "base", "source": pair_dirs[1], "revision": None, "run_dir": "base"},
        "checkpoints": [{"label": f"step-{s}", "source": f, "revision": None, "step": s, "kind": "model",
                         "run_dir": f"step-{s}"} for s, f in zip((1, 2, 3), folders, strict=True)]}
    loads.clear()
    base = read_run_info(root / "base")
    assert (base.kind, base.label, base.alphas) == ("base", "base", [1.0])
    assert base.checkpoint == {"label": "base", "source": pair_dirs[1], "revision": None, "step": None,
                                  "kind": "base"}
    # the base alone is lm-eval's `hf` on the base, doc for doc
    assert _stored(root / "base") == _hf_records(task_manager, pretrained=pair_dirs[1])
    assert list(list_units(root / "base")["tiny_mc"]) == [1.0]
    scores = []
    for step, folder in zip((1, 2, 3), folders, strict=True):
        run_dir = root / f"step-{step}"
        info = read_run_info(run_dir)
        assert info.label == f"step-{step}" and info.model_args == f"pretrained={folder},base={pair_dirs[1]}"
        assert info.checkpoint == {"label": f"step-{step}", "source": folder, "revision": None,
                                      "step": step, "kind": "model"}
        # each checkpoint at α = 1 is lm-eval's `hf` on that checkpoint
        assert _stored(run_dir) == _hf_records(task_manager, pretrained=folder)
        at_one, at_half = read_unit(run_dir, 1.0, "tiny_mc"), read_unit(run_dir, 0.5, "tiny_mc")
        assert all(0 < r["tuco"] < 1 for r in at_one) and not any("tuco" in r for r in at_half)
        scores.append(_stored(run_dir))
    assert scores[0] != scores[1] != scores[2]  # the checkpoints really differ
    # the stored TuCo is the block-by-block TuCo at each doc's last context token
    ft, base_model = (AutoModelForCausalLM.from_pretrained(d).eval() for d in (folders[0], pair_dirs[1]))
    encoder = HFLM(pretrained=base_model, tokenizer=AutoTokenizer.from_pretrained(pair_dirs[1]), device="cpu")
    docs = read_docs(root / "step-1", "tiny_mc")
    for record in read_unit(root / "step-1", 1.0, "tiny_mc"):
        doc = docs[record["doc_id"]]
        context, _ = encoder._encode_pair(doc["prompt"], doc["choices"][0])
        _, tuco = naive_joint(ft, base_model, torch.tensor([context]), 1.0)
        assert record["tuco"] == pytest.approx(tuco.item(), abs=1e-5)


def test_swapped_adapters_and_a_full_model_in_one_series(series_dirs, pair_dirs, task_manager, tmp_path,
                                                         loads):
    adapters = [str(series_dirs / "adapters" / f"checkpoint-{s}") for s in (10, 20)]
    model = str(series_dirs / "runs" / "sft" / "checkpoint-2")
    root = tmp_path / "root"
    done = run_series([adapters[1], model, adapters[0]], root, pair_dirs, task_manager,
                labels=["late", "full", "early"])
    recorded = done["series"]
    assert done["swept"] == ["full", "early", "late"]  # training order
    assert sorted(loads) == sorted([pair_dirs[1], model])  # adapters: swapped on the one base
    assert [(c.label, c.kind, c.step) for c in recorded.checkpoints] == [
        ("full", "model", 2), ("early", "adapter", 10), ("late", "adapter", 20)]  # by step, labels kept
    for label, adapter in (("early", adapters[0]), ("late", adapters[1])):
        alone = tmp_path / f"alone-{label}"
        lm = TucoScaledLM(pretrained=adapter, base=pair_dirs[1], device="cpu", batch_size=4)
        sweep(lm, ["tiny_mc"], alone, alphas=[0.5, 1.0], settings=EvalSettings(task_manager, limit=LIMIT),
              progress=False)
        for alpha in (0.5, 1.0):
            swapped, own = read_unit(root / label, alpha, "tiny_mc"), read_unit(alone, alpha, "tiny_mc")
            assert [r["doc_id"] for r in swapped] == [r["doc_id"] for r in own]
            for a, b in zip(swapped, own, strict=True):
                assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], abs=1e-6)
                assert a.get("tuco") == pytest.approx(b.get("tuco"), abs=1e-6)
        assert _stored(root / label) == _hf_records(task_manager, pretrained=pair_dirs[1], peft=adapter)
    assert _stored(root / "early") != _stored(root / "late")  # a missed swap would make them equal
    assert _stored(root / "full") == _hf_records(task_manager, pretrained=model)
    assert read_run_info(root / "early").checkpoint["kind"] == "adapter"


def test_resume_adds_only_missing_units_and_one_checkpoint_per_array_task(
        series_dirs, pair_dirs, task_manager, tmp_path, evaluated):
    root, pattern = tmp_path / "root", str(series_dirs / "adapters" / "checkpoint-*")
    run_series([pattern], root, pair_dirs, task_manager, alphas=[1.0], checkpoint_index=1)
    assert evaluated == [("base", 1.0), ("step-20", 1.0)]  # the array task for checkpoint 1 only
    assert [c["label"] for c in json.loads((root / "checkpoints.json").read_text())["checkpoints"]] == [
        "step-10", "step-20"]  # ... records the whole series
    evaluated.clear()
    run_series([pattern], root, pair_dirs, task_manager, alphas=[0.5, 1.0])
    assert sorted(evaluated) == [("step-10", 0.5), ("step-10", 1.0), ("step-20", 0.5)]


def test_base_alone_is_left_to_the_job_holding_its_lock(pair_dirs, task_manager, tmp_path):
    import subprocess
    import sys
    import time

    from tuco_eval.sweeps.alphas import sweep_alone

    run_dir, ready, release = tmp_path / "base", tmp_path / "locked", tmp_path / "release"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time, pathlib\n"
        "from tuco_eval.store.units import unit_lock\n"
        f"with unit_lock({str(run_dir)!r}, 1.0, 'tiny_mc'):\n"
        f"    pathlib.Path({str(ready)!r}).touch()\n"
        f"    while not pathlib.Path({str(release)!r}).exists(): time.sleep(0.05)\n")])
    base = HFLM(pretrained=pair_dirs[1], device="cpu", batch_size=4)
    kwargs = dict(settings=EvalSettings(task_manager, limit=2), label="base", progress=False)
    try:
        for _ in range(400):
            if ready.exists():
                break
            time.sleep(0.05)
        sweep_alone(base, ["tiny_mc", "tiny_gen"], run_dir, **kwargs)  # no error, no second computation
        assert list(list_units(run_dir)) == ["tiny_gen"]
    finally:
        release.touch()
        holder.wait(timeout=30)
    sweep_alone(base, ["tiny_mc", "tiny_gen"], run_dir, **kwargs)
    assert list(list_units(run_dir)) == ["tiny_gen", "tiny_mc"]


def _cli_args(root, pair_dirs, *extra):
    return ["sweep", "--model-args", f"base={pair_dirs[1]}", "--tasks", "tiny_mc", "--include-path",
            FIXTURE_TASKS, "--device", "cpu", "--output", str(root), *extra]


def test_cli_series_prints_the_next_command(series_dirs, pair_dirs, tmp_path, run_cli):
    root = tmp_path / "root"
    code, out, err = run_cli(_cli_args(root, pair_dirs, "--finetuned",
                                       str(series_dirs / "adapters" / "checkpoint-*"), "--alphas", "1.0",
                                       "--limit", "2", "--batch-size", "4", "--no-log-tuco"))
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert "the base and 2 checkpoint(s) (step-10, step-20)" in last
    assert last.endswith(f"next: tuco-eval report {root}")
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["base", "step-10", "step-20"]
    assert not any("tuco" in r for r in read_unit(root / "step-10", 1.0, "tiny_mc"))  # --no-log-tuco


@pytest.fixture(scope="module")
def other_architecture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2") / "checkpoint-5"
    make_model("gpt2").save_pretrained(folder)
    return folder


def _bad_cases(series_dirs, other_architecture):
    adapters = str(series_dirs / "adapters" / "checkpoint-10")
    return [
        (["--finetuned", str(series_dirs / "nothing-*")], "matches no folder"),
        (["--finetuned", adapters, adapters], "is given twice"),
        (["--finetuned", f"{adapters},{series_dirs / 'runs/sft/checkpoint-1'}", "--labels", "a,a"],
         "two checkpoints have the label 'a'"),
        (["--finetuned", adapters, "--labels", "a,b"], "--labels gives 2 label(s) for 1 checkpoint(s)"),
        (["--finetuned", str(other_architecture)], "checkpoint 'step-5'"),
        (["--finetuned", adapters, "--checkpoint-index", "3"], "--checkpoint-index 3 is out of range"),
        (["--labels", "a"], "--labels goes with --finetuned"),
        (["--finetuned", adapters, "--log-tuco", "--no-log-tuco"], "not allowed with argument"),
    ]


@pytest.mark.parametrize("case", range(8))
def test_bad_series_input_is_one_line_exit_2_before_any_model_loads(
        case, series_dirs, other_architecture, pair_dirs, tmp_path, run_cli, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", no_loading)
    extra, message = _bad_cases(series_dirs, other_architecture)[case]
    args = _cli_args(tmp_path / "root", pair_dirs, *extra)
    if extra[0] == "--labels":  # the old form with a series option
        args[2] = f"pretrained={pair_dirs[0]},base={pair_dirs[1]}"
    code, _, err = run_cli(args)
    assert code == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_pretrained_with_finetuned_is_refused(pair_dirs, tmp_path, run_cli):
    code, _, err = run_cli(["sweep", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}",
                            "--finetuned", pair_dirs[0], "--tasks", "tiny_mc", "--output", str(tmp_path)])
    assert code == 2 and "pretrained= names one fine-tuned model" in err, err
    assert len(err.strip().splitlines()) == 1


def test_leaderboard_of_three_checkpoints_is_lm_evals_hf(series_dirs, pair_dirs, task_manager, tmp_path):
    """The issue's acceptance check: sweep three checkpoints, `report` the ROOT, and read
    leaderboard.json against lm-eval's `hf` on each model, the naive block-by-block TuCo and scipy's
    exact McNemar test on lm-eval's per-doc correctness."""
    from itertools import combinations

    from scipy import stats

    from tuco_eval.pipeline.report import report

    n_docs = 12  # all of tiny_mc
    folders = [str(series_dirs / "runs" / "sft" / f"checkpoint-{s}") for s in (1, 2, 3)]
    root = tmp_path / "root"
    run_series([str(series_dirs / "runs" / "sft" / "checkpoint-*")], root, pair_dirs, task_manager,
         alphas=[0.9, 1.0, 1.1], limit=n_docs)
    report([root], tmp_path / "report", pairs=("all",))  # every pair, to check each p
    board = json.loads((tmp_path / "report" / "leaderboard.json").read_text())
    rows = {row["label"]: row for row in board["rows"]}
    assert [(r["label"], r["kind"], r["step"]) for r in board["rows"]] == [
        ("base", "base", None), ("step-1", "checkpoint", 1), ("step-2", "checkpoint", 2),
        ("step-3", "checkpoint", 3)]
    correct = {}  # lm-eval's per-doc correctness, by row
    base_model = AutoModelForCausalLM.from_pretrained(pair_dirs[1]).eval()
    encoder = HFLM(pretrained=base_model, tokenizer=AutoTokenizer.from_pretrained(pair_dirs[1]), device="cpu")
    docs = read_docs(root / "step-1", "tiny_mc")
    for label, folder in zip(rows, [pair_dirs[1], *folders], strict=True):
        out = _hf_evaluate(task_manager, n_docs, pretrained=folder)
        samples = sorted(out["samples"]["tiny_mc"], key=lambda s: s["doc_id"])
        correct[label] = np.array([float(s["acc"]) for s in samples])
        cell = rows[label]["tasks"]["tiny_mc"]
        assert cell["n"] == n_docs
        assert cell["score"] == pytest.approx(out["results"]["tiny_mc"]["acc,none"], abs=1e-12)
        assert cell["stderr"] == pytest.approx(out["results"]["tiny_mc"]["acc_stderr,none"], abs=1e-12)
        if label == "base":
            assert cell["tuco"] is None
            continue
        ft = AutoModelForCausalLM.from_pretrained(folder).eval()
        naive = []
        for doc_id in range(n_docs):  # TuCo at the last context token, as lm-eval encodes the context
            context, _ = encoder._encode_pair(docs[doc_id]["prompt"], docs[doc_id]["choices"][0])
            naive.append(naive_joint(ft, base_model, torch.tensor([context]), 1.0)[1].item())
        assert cell["tuco"] == pytest.approx(float(np.mean(naive)), abs=1e-6)
    discordant = 0
    tested = {(p["a"], p["b"]): p for p in board["pairs"] if p["task"] == "tiny_mc"}
    assert set(tested) == set(combinations(rows, 2))  # every pair of rows, the base included
    for (a, b), pair in tested.items():
        b_only = int(((correct[b] == 1) & (correct[a] == 0)).sum())
        a_only = int(((correct[a] == 1) & (correct[b] == 0)).sum())
        discordant += a_only + b_only
        expected = stats.binomtest(b_only, b_only + a_only, 0.5).pvalue if a_only + b_only else 1.0
        assert pair["test"] == "mcnemar"
        assert pair["p"] == pytest.approx(expected, rel=1e-12)
        assert pair["diff"] == pytest.approx(correct[b].mean() - correct[a].mean(), abs=1e-12)
    assert discordant > 0  # some pair differs on some doc: the p's are not all 1 by default


def test_a_base_already_done_builds_no_task_again(pair_dirs, task_manager, tmp_path, monkeypatch):
    """A series' base is swept once; a later checkpoint's job (or a watcher's next checkpoint)
    finds every unit complete from run.json alone, without building lm-eval's tasks again."""
    from tuco_eval.sweeps.alphas import sweep_alone

    base = HFLM(pretrained=pair_dirs[1], device="cpu", batch_size=4)
    settings = EvalSettings(task_manager, limit=LIMIT)
    first = sweep_alone(base, ["tiny_mc"], tmp_path / "base", settings=settings, progress=False)
    built = []
    original = tuco_eval.sweeps.alphas._describe_run
    monkeypatch.setattr(tuco_eval.sweeps.alphas, "_describe_run", lambda *a, **k: built.append(a[1]) or original(*a, **k))
    again = sweep_alone(base, ["tiny_mc"], tmp_path / "base", settings=settings, progress=False)
    assert built == [] and again == first
    sweep_alone(base, ["tiny_mc", "tiny_mc_small"], tmp_path / "base", settings=settings,
                progress=False)  # a task it has not done: built and evaluated
    assert built == [["tiny_mc", "tiny_mc_small"]]
    assert read_unit(tmp_path / "base", 1.0, "tiny_mc_small")

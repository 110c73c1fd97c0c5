"""The α sweep: store contents, one evaluation per (α, doc), resume after SIGKILL, shards, guards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from lm_eval import simple_evaluate
from lm_eval.models.huggingface import HFLM

from tests.helpers.naive import naive_tuco
from tests.helpers.tiny_models import FIXTURE_TASKS
from tuco_eval.analysis.run_cv import cross_validate
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.store.doc_texts import read_docs
from tuco_eval.store.run_json import read_run_info
from tuco_eval.store.sample_records import sample_record
from tuco_eval.store.units import StoreError, list_units, read_unit, unit_lock
from tuco_eval.sweeps.alphas import sweep
from tuco_eval.sweeps.settings import EvalSettings
from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import parse_alphas

ALPHAS = [0.5, 1.0, 1.5]


@pytest.fixture(scope="module")
def lm(pair_dirs):
    return TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4)


class CountCalls:
    """Counts an LM's model forwards (HFLM's `_model_call` and tuco_scaled's own scoring path
    alike) and, for tuco_scaled, its base-block calls."""

    def __init__(self, lm):
        self.lm, self.model_calls, self.base_block_calls = lm, 0, 0

    def __enter__(self):
        self._blocks = list(getattr(getattr(self.lm, "joint", None), "base_blocks", []))

        def forward(module, args):
            self.model_calls += 1

        def counted(fn):
            def block(*args, **kwargs):
                self.base_block_calls += 1
                return fn(*args, **kwargs)

            return block

        self._handle = self.lm.model.register_forward_pre_hook(forward)
        if self._blocks:
            self.lm.joint.base_blocks = [counted(fn) for fn in self._blocks]
        return self

    def __exit__(self, *exc):
        self._handle.remove()
        if self._blocks:
            self.lm.joint.base_blocks = self._blocks


def test_sweep_store_and_forward_count(lm, pair_dirs, task_manager, tmp_path):
    plain = HFLM(pretrained=pair_dirs[0], device="cpu", batch_size=4)
    with CountCalls(plain) as single:
        reference = simple_evaluate(model=plain, tasks=["tiny_mc"], task_manager=task_manager,
                                    log_samples=True, bootstrap_iters=0)
    run = tmp_path / "run"
    with CountCalls(lm) as counts:
        sweep(lm, ["tiny_mc"], run, alphas=ALPHAS, settings=EvalSettings(task_manager), model_args="m",
              progress=False)
    # one evaluation per α and nothing more; the base blocks run at α = 1 too, for its TuCo
    assert counts.model_calls == len(ALPHAS) * single.model_calls
    assert counts.base_block_calls == len(ALPHAS) * single.model_calls * 3
    assert all(0 < r["tuco"] < 1 for r in read_unit(run, 1.0, "tiny_mc"))
    assert not any("tuco" in r for a in (0.5, 1.5) for r in read_unit(run, a, "tiny_mc"))
    with CountCalls(lm) as without_tuco:  # --no-log-tuco: at α = 1 the fine-tuned model runs alone
        sweep(lm, ["tiny_mc"], tmp_path / "plain", alphas=ALPHAS, settings=EvalSettings(task_manager),
              model_args="m", progress=False, tuco_at_alpha_one=False)
    assert without_tuco.base_block_calls == (len(ALPHAS) - 1) * single.model_calls * 3
    assert not any("tuco" in r for r in read_unit(tmp_path / "plain", 1.0, "tiny_mc"))
    assert read_run_info(run).metadata["log_tuco_alpha_one"] is True
    assert read_run_info(tmp_path / "plain").metadata["log_tuco_alpha_one"] is False
    assert sorted(list_units(run)["tiny_mc"]) == ALPHAS
    at_one = read_unit(run, 1.0, "tiny_mc")
    expected = sorted(reference["samples"]["tiny_mc"], key=lambda s: s["doc_id"])
    assert [r["loglikelihoods"] for r in at_one] == [[x[0][0] for x in s["resps"]] for s in expected]
    assert [r["acc"] for r in at_one] == [float(s["acc"]) for s in expected]
    assert read_run_info(run).alphas == ALPHAS
    docs = read_docs(run, "tiny_mc")  # the texts behind the records, for the report's flips
    assert sorted(docs) == [s["doc_id"] for s in expected]
    first = expected[0]
    assert docs[first["doc_id"]] == {
        "doc_id": first["doc_id"],
        "prompt": f"{first['doc']['question']}\nAnswer:",
        "choices": ["  Yes", "  No"],  # the continuations as scored: target_delimiter + choice
        "target": first["doc"]["label"],
        "fields": first["doc"],  # the doc's short fields, where a cluster key is looked up
    }
    assert cross_validate(run, folds=3).tasks["tiny_mc"].n == 12
    with CountCalls(lm) as again:  # resume: everything is complete, nothing runs
        sweep(lm, ["tiny_mc"], run, alphas=ALPHAS, settings=EvalSettings(task_manager), model_args="m",
              progress=False)
    assert again.model_calls == 0


def test_tuco_logged_into_the_store(lm, task_manager, tmp_path):
    lm.log_tuco = True
    try:
        sweep(lm, ["tiny_mc"], tmp_path / "run", alphas=[1.25], settings=EvalSettings(task_manager, limit=4),
              model_args="m", progress=False)
    finally:
        lm.log_tuco = False
    records = read_unit(tmp_path / "run", 1.25, "tiny_mc")
    docs = read_docs(tmp_path / "run", "tiny_mc")
    assert len(records) == 4
    for record in records:  # each doc's TuCo at its context's last token, on the α = 1.25 stream
        doc = docs[record["doc_id"]]
        context_enc, _ = lm._encode_pair(doc["prompt"], doc["choices"][0])
        expected = naive_tuco(lm.model, lm.base_model, context_enc, 1.25)
        assert record["tuco"] == pytest.approx(expected, abs=1e-5)
    import lm_eval.evaluator
    import lm_eval.loggers.utils

    # the per-unit environment records skipped during the sweep are lm-eval's own again
    assert lm_eval.evaluator.get_git_commit_hash is lm_eval.loggers.utils.get_git_commit_hash
    assert lm_eval.evaluator.add_env_info is lm_eval.loggers.utils.add_env_info


def test_disjoint_shards_merge_and_doc_mismatch_is_refused(lm, task_manager, tmp_path):
    run = tmp_path / "run"
    kwargs = dict(model_args="m", progress=False)
    sweep(lm, ["tiny_mc"], run, alphas=[1.0], settings=EvalSettings(task_manager, limit=6), **kwargs)
    sweep(lm, ["tiny_mc"], run, alphas=[0.5], settings=EvalSettings(task_manager, limit=6), **kwargs)
    assert read_run_info(run).alphas == [0.5, 1.0]
    assert cross_validate(run, folds=2).tasks["tiny_mc"].n == 6
    sweep(lm, ["tiny_mc"], run, alphas=[1.5], settings=EvalSettings(task_manager, limit=4), **kwargs)
    with pytest.raises(StoreError, match="tiny_mc"):
        cross_validate(run, folds=2)
    with pytest.raises(StoreError, match="model_args"):
        sweep(lm, ["tiny_mc"], run, alphas=[1.0], settings=EvalSettings(task_manager), model_args="other",
              progress=False)


def test_same_unit_twice_at_once_is_refused_other_tasks_run_beside_it(lm, task_manager, tmp_path):
    run = tmp_path / "run"
    ready, release = tmp_path / "locked", tmp_path / "release"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time, pathlib\n"
        "from tuco_eval.store.units import unit_lock\n"
        f"with unit_lock({str(run)!r}, 1.0, 'tiny_mc'):\n"
        f"    pathlib.Path({str(ready)!r}).touch()\n"
        f"    while not pathlib.Path({str(release)!r}).exists(): time.sleep(0.05)\n")])
    kwargs = dict(alphas=[1.0], settings=EvalSettings(task_manager, limit=2), model_args="m", progress=False)
    try:
        for _ in range(400):
            if ready.exists():
                break
            time.sleep(0.05)
        with pytest.raises(StoreError, match="another sweep is already running alpha=1.0 tiny_mc"):
            sweep(lm, ["tiny_mc"], run, **kwargs)
        sweep(lm, ["tiny_gen"], run, **kwargs)  # a job sharded by task shares the α
        assert list(list_units(run)) == ["tiny_gen"]
    finally:
        release.touch()
        holder.wait(timeout=30)
    with unit_lock(run, 1.0, "tiny_mc"):  # released with its holder
        pass


def test_request_cache_without_alpha_in_its_path_is_refused(lm):
    class Hook:
        class dbdict:
            filename = "cache/tuco_rank0.db"

    with pytest.raises(TucoError, match="must name α"):
        lm.set_cache_hook(Hook())
    Hook.dbdict.filename = "cache/alpha=1.0_rank0.db"
    lm.set_cache_hook(Hook())
    try:
        with pytest.raises(TucoError, match="one cache path per α"):
            lm.alpha = 1.1
    finally:
        lm._cache_path = None


@pytest.mark.parametrize("grid,message", [
    ("1.0,abc", "alpha must be a number"), ("1.0,1", "repeats 1.0"), ("", "comma-separated"),
    ("1.0,nan", "alpha must be finite"),
])
def test_bad_grids(grid, message):
    with pytest.raises(TucoError, match=message):
        parse_alphas(grid)


def test_sample_record_reads_lm_eval_samples():
    sample = {"doc_id": 3, "doc_hash": "h", "metrics": ["acc", "acc_norm"], "acc": 1, "acc_norm": 0.0,
              "resps": [[(-1.5, False)], [(-0.5, True)]],
              "arguments": [("ctx", " a", {"tuco": 0.25, "alpha": 1.0}), ("ctx", " b", {"tuco": 0.25})]}
    assert sample_record(sample) == {"doc_id": 3, "doc_hash": "h", "acc": 1.0, "acc_norm": 0.0,
                                     "loglikelihoods": [-1.5, -0.5], "tuco": 0.25}


def _cli(args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.Popen([sys.executable, "-m", "tuco_eval", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _store(run):
    return {(a, t): read_unit(run, a, t) for t, units in list_units(run).items() for a in units}


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_equals_uninterrupted(pair_dirs, tmp_path):
    args = ["sweep", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}", "--tasks",
            "tiny_mc,tiny_gen", "--include-path", FIXTURE_TASKS, "--alphas", "0.5,1.0,1.5", "--device", "cpu",
            "--batch-size", "4", "--limit", "6"]
    full = _cli([*args, "--output", str(tmp_path / "full")], tmp_path)
    assert full.wait(timeout=600) == 0, full.stderr.read()[-2000:]
    assert "not a git repository" not in full.stderr.read()  # lm-eval's per-unit git probe is skipped
    run = tmp_path / "killed"
    victim = _cli([*args, "--output", str(run)], tmp_path)
    deadline = time.time() + 300
    while time.time() < deadline and not list((run / "samples").glob("alpha=*/*.done.json")):
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    done_before = len(list((run / "samples").glob("alpha=*/*.done.json")))
    assert 1 <= done_before < 6  # killed mid-sweep
    resumed = _cli([*args, "--output", str(run)], tmp_path)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-2000:]
    assert _store(run) == _store(tmp_path / "full")


BAD_SWEEP_INPUT = [
    (["--tasks", "tiny_mcc"], "did you mean tiny_mc"),
    (["--tasks", "tiny_mc", "--alphas", "1.0,x"], "alpha must be a number"),
    (["--tasks", "tiny_mc", "--metadata", "{bad"], "--metadata is not valid JSON"),
    (["--tasks", "tiny_mc", "--model-args", "pretrained=x"], "needs pretrained=<fine-tuned> and base="),
]


def _bad_sweep_args(pair_dirs, tmp_path, extra):
    return ["sweep", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}", "--include-path",
            FIXTURE_TASKS, "--device", "cpu", "--output", str(tmp_path / "r"), *extra]


def test_sweep_cli_bad_input_exits_2_with_one_line(pair_dirs, tmp_path):
    # one real process: exit code and the whole stderr, logging handlers included
    extra, message = BAD_SWEEP_INPUT[1]  # a cheap case: fails before any task is indexed
    done = _cli(_bad_sweep_args(pair_dirs, tmp_path, extra), tmp_path)
    _, err = done.communicate(timeout=300)
    assert done.returncode == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(("extra", "message"), BAD_SWEEP_INPUT)
def test_sweep_bad_input_is_one_line_exit_2_in_process(pair_dirs, tmp_path, run_cli, extra, message):
    # the same entry point without a fresh interpreter (torch and lm-eval imports) per case
    code, _, err = run_cli(_bad_sweep_args(pair_dirs, tmp_path, extra))
    assert code == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(("flag", "with_tuco"), [
    ([], {0.5: False, 1.0: True}), (["--log-tuco"], {0.5: True, 1.0: True}),
    (["--no-log-tuco"], {0.5: False, 1.0: False}),
])
def test_sweep_cli_stores_tuco_at_alpha_one_by_default(pair_dirs, tmp_path, run_cli, flag, with_tuco):
    run = tmp_path / "run"
    code, out, err = run_cli(["sweep", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}",
                              "--include-path", FIXTURE_TASKS, "--device", "cpu", "--tasks", "tiny_mc",
                              "--output", run, "--alphas", "0.5,1.0", "--limit", "3", *flag])
    assert code == 0, err
    assert {a: all("tuco" in r for r in read_unit(run, a, "tiny_mc")) for a in (0.5, 1.0)} == with_tuco
    assert {a: any("tuco" in r for r in read_unit(run, a, "tiny_mc")) for a in (0.5, 1.0)} == with_tuco

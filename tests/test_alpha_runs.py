"""Each α of a sweep is an lm-eval output folder: lm-eval's own `make_table` reads its results
JSON, its numbers are the ones `simple_evaluate` gives `tuco_scaled` at that α, and `report`
reads it as it reads any `lm_eval --output_path` folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from lm_eval import simple_evaluate
from lm_eval.utils import make_table

from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.store.alpha_runs import alpha_run_dir, record_alpha_run, sanitize_model_name
from tuco_eval.store.units import read_unit
from tuco_eval.sweeps.alphas import sweep
from tuco_eval.sweeps.settings import EvalSettings

TASKS = ["tiny_mc", "tiny_mc_small"]
LIMIT = 8


def _lm(pair_dirs, alpha=1.0):
    return TucoScaledLM.create_from_arg_string(f"pretrained={pair_dirs[0]},base={pair_dirs[1]},alpha={alpha}",
                                               {"batch_size": 4, "device": "cpu"})


@pytest.fixture(scope="module")
def swept(pair_dirs, task_manager, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("alpha_runs") / "run"
    sweep(_lm(pair_dirs), TASKS, run_dir, alphas=[0.9, 1.0],
          settings=EvalSettings(task_manager, limit=LIMIT, log_samples=True),
          model_args=f"pretrained={pair_dirs[0]},base={pair_dirs[1]}", label="sft", progress=False)
    return run_dir


def test_an_alpha_folder_is_what_lm_eval_writes_for_that_alpha(swept, pair_dirs, task_manager):
    folder = alpha_run_dir(swept, 0.9, "sft")
    results = json.loads(next(folder.glob("results_*.json")).read_text())
    table = make_table(results)  # lm-eval's own reader of a results JSON
    assert "tiny_mc" in table and "tiny_mc_small" in table
    direct = simple_evaluate(model=_lm(pair_dirs, 0.9), tasks=TASKS, task_manager=task_manager, limit=LIMIT)
    for task in TASKS:
        assert results["results"][task]["acc,none"] == pytest.approx(direct["results"][task]["acc,none"])
        stderrs = {k: v for k, v in direct["results"][task].items() if "_stderr," in k}
        assert stderrs and all(results["results"][task][k] == pytest.approx(v) for k, v in stderrs.items())
        stored = read_unit(swept, 0.9, task)
        assert results["results"][task]["acc,none"] == pytest.approx(sum(r["acc"] for r in stored) / len(stored))
        assert results["n-samples"][task]["effective"] == len(stored) and task in results["configs"]
    samples = sorted(folder.glob("samples_*.jsonl"))
    assert [p.name.split("_2")[0] for p in samples] == ["samples_tiny_mc", "samples_tiny_mc_small"]
    assert len(samples[0].read_text().splitlines()) == LIMIT


def test_report_reads_an_alpha_folder_as_an_lm_eval_run(swept, tmp_path):
    from tuco_eval.pipeline.report import report

    report([alpha_run_dir(swept, 1.0, "sft")], tmp_path / "out", labels=["sft-at-1.0"], say=lambda _: None)
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    row = board["rows"][0]
    stored = read_unit(swept, 1.0, "tiny_mc")
    assert row["label"] == "sft-at-1.0"
    assert row["tasks"]["tiny_mc"]["score"] == pytest.approx(sum(r["acc"] for r in stored) / len(stored))


def test_a_unit_evaluated_again_replaces_its_task_only(tmp_path):
    def out(task, acc):
        return {"results": {task: {"acc,none": acc}}, "versions": {task: 1.0}, "config": {"model": "m"},
                "lm_eval_version": "0.4.13"}

    record_alpha_run(tmp_path, 1.1, "org/ft", ["a"], out("a", 0.1))
    record_alpha_run(tmp_path, 1.1, "org/ft", ["b"], out("b", 0.2))
    path = record_alpha_run(tmp_path, 1.1, "org/ft", ["a"], out("a", 0.3))
    assert path.parent == tmp_path / "lm_eval" / "alpha=1.1" / "org__ft"
    assert [p.name for p in path.parent.glob("results_*.json")] == [path.name]  # one file per α
    merged = json.loads(path.read_text())
    assert merged["results"] == {"a": {"acc,none": 0.3}, "b": {"acc,none": 0.2}}
    assert merged["config"] == {"model": "m"} and not list(path.parent.glob("samples_*"))
    assert sanitize_model_name("runs/sft:1") == "runs__sft__1"


def _fake_wandb(monkeypatch, fail_name=None):
    """A stand-in `wandb` (not installed here) that records what lm-eval's WandbLogger sends."""
    from unittest import mock

    fake = mock.MagicMock(__version__="0.19.0", run=None)
    fake.runs = []

    def init(**kwargs):
        if kwargs.get("name") == fail_name:
            raise ConnectionError("offline")
        run = mock.MagicMock(init=kwargs)
        fake.runs.append(run)
        return run

    fake.init.side_effect = init
    for name in ("wandb", "wandb.sdk", "wandb.sdk.lib", "wandb.sdk.lib.printer"):
        monkeypatch.setitem(sys.modules, name, fake)
    return fake


def _logged(run) -> dict:
    return {k: v for call in run.log.call_args_list for k, v in call.args[0].items()}


def test_each_alpha_goes_to_wandb_as_an_lm_eval_run(swept, monkeypatch):
    from tuco_eval.sweeps.publish import Publish, publish_alpha_runs

    fake = _fake_wandb(monkeypatch, fail_name="run alpha=0.9")
    lines = []
    publish_alpha_runs([swept], Publish(wandb_args={"project": "p"}, wandb_config_args={"team": "x"}),
                       say=lines.append)
    assert lines == ["wandb: could not log run alpha=0.9 (ConnectionError: offline); "
                     "run the same sweep again to retry"]  # one line; α = 1 still goes out
    (run,) = fake.runs
    assert run.init == {"project": "p", "name": "run alpha=1.0", "group": "run"}
    assert run.config.update.call_args_list[0].args[0] == {"team": "x", "alpha": 1.0,
                                                            "tuco_eval_run": str(alpha_run_dir(swept, 1.0, "sft"))}
    logged = _logged(run)
    for task in TASKS:
        stored = read_unit(swept, 1.0, task)
        assert logged[f"{task}/acc"] == pytest.approx(sum(r["acc"] for r in stored) / len(stored))
        assert f"{task}_eval_results" in logged  # the samples table lm-eval logs with --log_samples
    run.finish.assert_called_once()

    fake = _fake_wandb(monkeypatch)
    publish_alpha_runs([swept], Publish(wandb_args={"project": "p", "name": "sft", "group": "g"}))
    assert [r.init["name"] for r in fake.runs] == ["sft alpha=0.9", "sft alpha=1.0"]
    assert {r.init["group"] for r in fake.runs} == {"g"}


def test_each_alpha_goes_to_the_hub_as_lm_eval_lays_it_out(swept, monkeypatch):
    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects

    from tuco_eval.sweeps.publish import Publish, publish_alpha_runs

    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("token", token))

        def whoami(self):
            return {"name": "me"}

        def create_repo(self, **kwargs):
            calls.append(("create", kwargs["repo_id"], kwargs["private"]))

        def upload_folder(self, **kwargs):
            root = Path(kwargs["folder_path"])
            files = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
            calls.append(("upload", kwargs["repo_id"], kwargs["path_in_repo"],
                          sorted(filter_repo_objects(files, allow_patterns=kwargs["allow_patterns"]))))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    lines = []
    publish_alpha_runs([swept], Publish(hub_args={"push_results_to_hub": "True", "push_samples_to_hub": "true",
                                                  "details_repo_name": "evals"}), say=lines.append)
    on_disk = sorted(p.relative_to(swept / "lm_eval").as_posix() for p in (swept / "lm_eval").rglob("*_*.json*"))
    results = [p for p in on_disk if "/results_" in p]
    samples = [p for p in on_disk if "/samples_" in p]
    assert len(results) == 2 and len(samples) == 4
    assert calls == [("token", "hf_x"),
                     ("create", "me/evals-private", True), ("upload", "me/evals-private", "run", results),
                     ("create", "me/evals-private", True), ("upload", "me/evals-private", "run", samples)]
    assert lines == ["hub: run's α runs pushed, results to datasets/me/evals-private and samples to datasets/me/evals-private"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--hf_hub_log_args", "hub_results_org=o"], "--hf_hub_log_args pushes nothing: add push_results_to_hub=True"),
    (["--hf_hub_log_args", "push_results_to_hub=True", "repo=x"], "--hf_hub_log_args: unknown key(s) repo;"),
    (["--hf_hub_log_args", "push_samples_to_hub=True"], "push_samples_to_hub=True needs --log_samples"),
    (["--hf_hub_log_args", "push_results_to_hub=maybe"], "push_results_to_hub must be true or false"),
    (["--wandb_args", "project"], "--wandb_args: expected key=value (e.g. project=my-evals), got 'project'"),
    (["--wandb_config_args", "a=1"], "--wandb_config_args goes with --wandb_args"),
    (["--trackio_args", "project=p"], "--trackio_args needs trackio: pip install trackio"),
])
def test_logging_flags_are_checked_before_any_model_loads(flags, message, run_cli, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "trackio", None)
    code, _, err = run_cli(["sweep", "--model_args", "pretrained=nowhere/ft,base=nowhere/pt", "--tasks", "tiny_mc",
                            "--output_path", tmp_path / "run", *flags])
    assert code == 2 and message in err, err
    assert not (tmp_path / "run").exists()


def test_sweep_with_wandb_args_logs_each_alpha_after_the_sweep(pair_dirs, run_cli, monkeypatch, tmp_path):
    from tests.helpers.tiny_models import FIXTURE_TASKS

    fake = _fake_wandb(monkeypatch)
    code, out, err = run_cli(["sweep", "--model_args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}",
                              "--tasks", "tiny_mc", "--include_path", FIXTURE_TASKS, "--limit", "2",
                              "--alphas", "1.0,1.25", "--output_path", tmp_path / "run",
                              "--wandb_args", "project=p", "name=sft"])
    assert code == 0, err
    assert [r.init["name"] for r in fake.runs] == ["sft alpha=1.0", "sft alpha=1.25"]
    stored = read_unit(tmp_path / "run", 1.25, "tiny_mc")
    assert _logged(fake.runs[1])["tiny_mc/acc"] == pytest.approx(sum(r["acc"] for r in stored) / len(stored))

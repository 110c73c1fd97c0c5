"""Each α of a sweep is an lm-eval output folder: lm-eval's own `make_table` reads its results
JSON, its numbers are the ones `simple_evaluate` gives `tuco_scaled` at that α, and `report`
reads it as it reads any `lm_eval --output_path` folder."""

from __future__ import annotations

import json

import pytest
from lm_eval import simple_evaluate
from lm_eval.utils import make_table

from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.store.alpha_runs import alpha_run_dir, record_alpha_run, sanitize_model_name
from tuco_eval.store.units import read_unit
from tuco_eval.sweeps.alphas import sweep

TASKS = ["tiny_mc", "tiny_mc_small"]
LIMIT = 8


def _lm(pair_dirs, alpha=1.0):
    return TucoScaledLM.create_from_arg_string(f"pretrained={pair_dirs[0]},base={pair_dirs[1]},alpha={alpha}",
                                               {"batch_size": 4, "device": "cpu"})


@pytest.fixture(scope="module")
def swept(pair_dirs, task_manager, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("alpha_runs") / "run"
    sweep(_lm(pair_dirs), TASKS, run_dir, alphas=[0.9, 1.0], task_manager=task_manager, limit=LIMIT,
          model_args=f"pretrained={pair_dirs[0]},base={pair_dirs[1]}", label="sft", log_samples=True,
          progress=False)
    return run_dir


def test_an_alpha_folder_is_what_lm_eval_writes_for_that_alpha(swept, pair_dirs, task_manager):
    folder = alpha_run_dir(swept, 0.9, "sft")
    results = json.loads(next(folder.glob("results_*.json")).read_text())
    table = make_table(results)  # lm-eval's own reader of a results JSON
    assert "tiny_mc" in table and "tiny_mc_small" in table
    direct = simple_evaluate(model=_lm(pair_dirs, 0.9), tasks=TASKS, task_manager=task_manager, limit=LIMIT,
                             bootstrap_iters=0)
    for task in TASKS:
        assert results["results"][task]["acc,none"] == pytest.approx(direct["results"][task]["acc,none"])
        stored = read_unit(swept, 0.9, task)
        assert results["results"][task]["acc,none"] == pytest.approx(sum(r["acc"] for r in stored) / len(stored))
        assert results["n-samples"][task]["effective"] == len(stored) and task in results["configs"]
    samples = sorted(folder.glob("samples_*.jsonl"))
    assert [p.name.split("_2")[0] for p in samples] == ["samples_tiny_mc", "samples_tiny_mc_small"]
    assert len(samples[0].read_text().splitlines()) == LIMIT


def test_report_reads_an_alpha_folder_as_an_lm_eval_run(swept, tmp_path):
    from tuco_eval.render.report import report

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

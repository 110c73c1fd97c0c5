"""The paper's tasks are found by lm-eval after install, with no `--include_path`: the start-up
hook that registers `tuco_scaled` adds tuco-eval's task folder to every TaskManager that indexes
lm-eval's own tasks. Checked in this interpreter and through the installed `lm_eval` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lm_eval.tasks import TaskManager

from tests.helpers.tiny_models import FIXTURE_TASKS
from tuco_eval import tasks_dir

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1"}


@pytest.fixture(scope="module")
def default_manager():
    return TaskManager()  # lm-eval's default: its built-in tasks (seconds)


def test_a_default_task_manager_knows_the_papers_tasks(default_manager):
    assert {"tuco_mmlu", "tuco_behavior", "tuco_mmlu_stem"} <= set(default_manager.all_groups)
    assert "tuco_persona_narcissism" in default_manager.all_subtasks
    assert "mmlu" in default_manager.all_groups  # lm-eval's own are all still there
    own = TaskManager(include_path=[str(tasks_dir())])  # the old advice still works, indexed once
    assert own.all_tasks == default_manager.all_tasks
    with_user_folder = TaskManager(include_path=FIXTURE_TASKS)
    assert {"tuco_mmlu", "tiny_mc"} <= set(with_user_folder.all_tasks)


def test_a_manager_without_defaults_is_left_alone():
    only = TaskManager(include_path=FIXTURE_TASKS, include_defaults=False)
    assert "tiny_mc" in only.all_tasks and not any(t.startswith("tuco_") for t in only.all_tasks)
    assert TaskManager.__init__._tuco_eval and not getattr(TaskManager.__init__.__wrapped__, "_tuco_eval", False)


@pytest.mark.slow
def test_lm_eval_command_runs_a_paper_task_without_include_path(pair_dirs, shared_data, tmp_path):
    lm_eval = Path(sys.executable).with_name("lm_eval")
    listed = subprocess.run([str(lm_eval), "ls", "groups"], capture_output=True, text=True, env=ENV,
                            cwd=tmp_path, timeout=600)
    assert listed.returncode == 0 and "tuco_behavior" in listed.stdout and "tuco_mmlu" in listed.stdout
    out = tmp_path / "out"
    done = subprocess.run(
        [str(lm_eval), "--model", "tuco_scaled", "--model_args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}",
         "--tasks", "tuco_persona_narcissism", "--metadata", json.dumps({"data_dir": str(shared_data)}),
         "--limit", "6", "--device", "cpu", "--batch_size", "4", "--log_samples", "--output_path", str(out)],
        capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    samples = next(out.rglob("samples_tuco_persona_narcissism_*.jsonl")).read_text().splitlines()
    assert len(samples) == 6
    # then tuco-eval with the flags just typed for lm_eval: a sweep, and a report of both runs
    tuco_eval = Path(sys.executable).with_name("tuco-eval")
    same = ["--model_args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}", "--tasks", "tuco_persona_narcissism",
            "--metadata", json.dumps({"data_dir": str(shared_data)}), "--limit", "6", "--device", "cpu",
            "--batch_size", "4", "--num_fewshot", "0", "--gen_kwargs", "temperature=0", "--seed", "1234",
            "--log_samples"]
    swept = subprocess.run([str(tuco_eval), "sweep", *same, "--alphas", "0.9,1.0", "--output_path", "sweep"],
                           capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert list((tmp_path / "sweep" / "lm_eval").glob("alpha=0.9/*/results_*.json"))  # an lm-eval folder per α
    reported = subprocess.run([str(tuco_eval), "report", "out", "sweep", "--output_path", "report"],
                              capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert reported.returncode == 0, reported.stderr[-3000:]
    rows = json.loads((tmp_path / "report" / "leaderboard.json").read_text())["rows"]
    assert len(rows) == 2  # the lm_eval run and the sweep, side by side

"""`tuco-eval sweep --modes`: one pair, the modes side by side in one RUN_DIR, then cv and report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lm_eval.tasks import TaskManager

from tests.helpers.tiny_models import FIXTURE_TASKS
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.store.run_json import mode_root, mode_roots, read_run_info
from tuco_eval.store.units import list_units, read_unit
from tuco_eval.sweeps.modes import sweep_modes
from tuco_eval.sweeps.settings import EvalSettings, Grid

REPO = str(Path(__file__).resolve().parents[1])  # subprocesses run this checkout


def _cli(args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1", "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, "-m", "tuco_eval", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=900)


def test_sweep_cli_with_two_modes_then_cv_and_report(pair_dirs, tmp_path):
    run = tmp_path / "run"
    done = _cli(["sweep", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}",
                 "--tasks", "tiny_mc", "--include-path", FIXTURE_TASKS, "--alphas", "0.5,1.0,1.5",
                 "--modes", "activation,logits", "--device", "cpu", "--batch-size", "4",
                 "--output", str(run)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(mode_roots(run)) == ["activation", "logits"]
    assert sorted(list_units(run)["tiny_mc"]) == [0.5, 1.0, 1.5]  # the old layout for activation
    logits_root = run / "mode=logits"
    assert sorted(list_units(logits_root)["tiny_mc"]) == [0.5, 1.0, 1.5]
    assert read_run_info(logits_root).metadata["mode"] == "logits"
    assert read_run_info(logits_root).label.endswith("[logits]")
    at_one = [r["loglikelihoods"] for r in read_unit(run, 1.0, "tiny_mc")]
    assert [r["loglikelihoods"] for r in read_unit(logits_root, 1.0, "tiny_mc")] == at_one
    assert read_unit(run, 1.5, "tiny_mc") != read_unit(logits_root, 1.5, "tiny_mc")
    done = _cli(["cv", str(run), "--folds", "3"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "activation - logits" in done.stdout
    done = _cli(["report", str(run), "--output", str(tmp_path / "report")], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((tmp_path / "report").glob("accuracy_vs_alpha_modes_*.png"))
    modes = json.loads((run / "modes.json").read_text())
    assert modes["config"]["modes"] == ["activation", "logits"] and modes["tasks"]["tiny_mc"]["n"] == 12


def test_sweep_switches_modes_in_place_and_restores(pair_dirs, tmp_path):
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4)
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    manager = TaskManager(include_path=FIXTURE_TASKS, include_defaults=False)
    model = lm.model
    sweep_modes(lm, ["tiny_mc"], tmp_path / "run", grid=Grid(alphas=[0.5, 1.0], modes=["weights", "logits"]),
                settings=EvalSettings(manager, limit=4), model_args="m", progress=False)
    assert lm.model is model and lm.mode == "activation"  # nothing reloaded; mode set back
    assert all(before[k].equal(v) for k, v in lm.model.state_dict().items())
    assert list(mode_roots(tmp_path / "run")) == ["logits", "weights"]
    assert mode_root(tmp_path / "run", "weights") == tmp_path / "run" / "mode=weights"

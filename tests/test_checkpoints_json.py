"""What `--finetuned` names (tuco_eval.store.checkpoints.resolve_checkpoints) and ROOT/checkpoints.json:
merged by several jobs under a lock, clashes refused in one line. No model is loaded here."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tuco_eval.store.checkpoints import (
    Checkpoint,
    base_record,
    plan_series,
    read_series,
    record_series,
    resolve_checkpoints,
)
from tuco_eval.util.errors import TucoError

BASE = base_record("org/pt")


def _folder(path, kind="model"):
    path.mkdir(parents=True)
    (path / ("config.json" if kind == "model" else "adapter_config.json")).write_text("{}")
    return path


def test_globs_hub_ids_and_folders_resolve_in_training_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for step in (16, 8, 24):
        _folder(tmp_path / "runs" / "sft" / f"checkpoint-{step}", "adapter")
    _folder(tmp_path / "runs" / "sft" / "checkpoint-9-notes")  # a glob match without a step
    (tmp_path / "runs" / "sft" / "checkpoint-1.txt").write_text("not a folder")
    found = resolve_checkpoints(["runs/sft/checkpoint-[0-9]", "runs/sft/checkpoint-[0-9][0-9]"])
    assert [(c.label, c.source, c.step, c.kind) for c in found] == [
        ("step-8", "runs/sft/checkpoint-8", 8, "adapter"),
        ("step-16", "runs/sft/checkpoint-16", 16, "adapter"),
        ("step-24", "runs/sft/checkpoint-24", 24, "adapter")]
    # one name without a step: the series keeps the given order (the glob's own: natural order)
    mixed = resolve_checkpoints(["runs/sft/checkpoint-*"])
    assert [c.label for c in mixed] == ["step-8", "checkpoint-9-notes", "step-16", "step-24"]
    # a Hub id (offline here: unknown counts as a full model, checked before weights load)
    hub = resolve_checkpoints(["EleutherAI/pythia-70m@step1000", "org/Qwen2.5-sft"])
    assert [(c.label, c.source, c.revision, c.step, c.kind) for c in hub] == [
        ("pythia-70m@step1000", "EleutherAI/pythia-70m", "step1000", 1000, "model"),
        ("Qwen2.5-sft", "org/Qwen2.5-sft", None, None, "model")]
    _folder(tmp_path / "odd@name")  # a local folder whose name holds an @ is that folder
    assert resolve_checkpoints(["odd@name"])[0].revision is None


@pytest.mark.parametrize(("make", "specs", "message"), [
    (lambda p: None, ["runs/*"], "--finetuned pattern 'runs/*' matches no folder"),
    (lambda p: (p / "empty").mkdir(), ["empty"], "neither a model folder (config.json) nor a PEFT adapter"),
    (lambda p: (p / "weights.bin").write_text(""), ["weights.bin"], "is a file"),
    (lambda p: None, [" ", ""], "--finetuned names no checkpoint"),
])
def test_bad_names(tmp_path, monkeypatch, make, specs, message):
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    with pytest.raises(TucoError, match=re.escape(message)):
        resolve_checkpoints(specs)


def _checkpoint(label, source=None, step=None):
    return Checkpoint(label, source or f"runs/{label}", None, step, "model")


def test_jobs_merge_into_one_record_and_keep_each_folder(tmp_path):
    root = tmp_path / "root"
    first = record_series(root, BASE, [_checkpoint("step-20", step=20), _checkpoint("Model.v1", step=5)])
    assert [c.run_dir for c in first] == ["step-20", "Model.v1"]
    second = record_series(root, BASE, [_checkpoint("model.v1", "elsewhere", step=10),
                                        _checkpoint("step-20", step=20)])
    assert [c.run_dir for c in second] == ["model.v1-2", "step-20"]  # apart from Model.v1 on any disk
    series = read_series(root)
    assert series.to_json() == json.loads((root / "checkpoints.json").read_text())
    assert series.format == 1 and series.base.to_json() == {"label": "base", "source": "org/pt",
                                                            "revision": None, "run_dir": "base"}
    assert [(c.label, c.step, c.run_dir) for c in series.checkpoints] == [
        ("Model.v1", 5, "Model.v1"), ("model.v1", 10, "model.v1-2"), ("step-20", 20, "step-20")]
    assert set(series.to_json()["checkpoints"][0]) == {"label", "source", "revision", "step", "kind", "run_dir"}


@pytest.mark.parametrize(("base", "checkpoint", "message"), [
    (BASE, _checkpoint("a", "somewhere/else"), "already has a checkpoint labelled 'a' from runs/a"),
    (BASE, _checkpoint("b", "runs/a"), "already records runs/a as 'a'"),
    (base_record("org/other"), _checkpoint("a"), "holds checkpoints of the base org/pt, not org/other"),
    (base_record("org/pt", "v2"), _checkpoint("a"), "not org/pt@v2"),
])
def test_clashes_with_the_record_are_refused_before_anything_is_written(tmp_path, base, checkpoint, message):
    root = tmp_path / "root"
    record_series(root, BASE, [_checkpoint("a")])
    before = (root / "checkpoints.json").read_bytes()
    with pytest.raises(TucoError, match=re.escape(message)):
        plan_series(root, base, [checkpoint])
    with pytest.raises(TucoError, match=re.escape(message)):
        record_series(root, base, [checkpoint])
    assert (root / "checkpoints.json").read_bytes() == before


def test_concurrent_jobs_lose_no_checkpoint(tmp_path):
    root = tmp_path / "root"
    script = (
        "import sys\n"
        "from tuco_eval.store.checkpoints import Checkpoint, base_record, record_series\n"
        "job = sys.argv[1]\n"
        "for i in range(25):\n"
        f"    record_series({str(root)!r}, base_record('org/pt'), "
        "[Checkpoint(f'{job}-{i}', f'runs/{job}-{i}', None, None, 'model')])\n"
    )
    jobs = [subprocess.Popen([sys.executable, "-c", script, f"job{j}"]) for j in range(4)]
    assert [job.wait(timeout=120) for job in jobs] == [0] * 4
    labels = {c.label for c in read_series(root).checkpoints}
    assert labels == {f"job{j}-{i}" for j in range(4) for i in range(25)}

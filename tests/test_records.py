"""The records of RUN_DIR/run.json (store.run_json.RunInfo) and ROOT/checkpoints.json
(store.checkpoints.Series): what is read is written back byte for byte, older files read, keys
of a newer writer are kept, and a file of a newer format is refused in one line."""

from __future__ import annotations

import json

import pytest

from tuco_eval.store import run_json
from tuco_eval.store.checkpoints import (
    Checkpoint,
    Series,
    base_record,
    forget_checkpoint,
    read_series,
    record_series,
)
from tuco_eval.store.run_json import RunInfo, read_run_info, update_run_info
from tuco_eval.store.units import StoreError

CHECKPOINT = {"label": "step-1", "source": "runs/step-1", "revision": None, "step": 1, "kind": "model"}


def _description(**extra) -> RunInfo:
    """A sweep's description, laid out as sweeps.alphas._describe_run lays it out."""
    return RunInfo.of(
        model_args="pretrained=ft,base=pt",
        **extra,
        lm_eval_version="0.4.13",
        tuco_eval_version="0.1.0",
        alphas=[1.0, 0.5],
        tasks=["b", "a"],
        groups={"g": ["a", "b"]},
        group_aggregation={"g": [{"metric": "acc", "filter_list": ["none"], "weight_by_size": True}]},
        filters={"a": ["none"], "b": ["strict", "flexible"]},
        task_configs={"a": {"num_fewshot": 0}, "b": {}},
        metadata={"limit": 3, "mode": "activation"},
    )


def _text(obj) -> bytes:
    # util.files.atomic_write_json's serialisation
    return (json.dumps(obj, indent=2) + "\n").encode()


def test_run_json_of_a_checkpoint_keeps_the_key_order_written_so_far(tmp_path):
    # a series' checkpoint: its label and record first, the sweep's description merged after
    update_run_info(tmp_path, RunInfo.of(model_args="pretrained=ft,base=pt", label="step-1",
                                         checkpoint=CHECKPOINT))
    update_run_info(tmp_path, _description(label="step-1", checkpoint=CHECKPOINT))
    written = (tmp_path / "run.json").read_bytes()
    assert list(json.loads(written)) == [
        "model_args", "label", "checkpoint", "lm_eval_version", "tuco_eval_version", "alphas", "tasks",
        "groups", "group_aggregation", "filters", "task_configs", "metadata"]
    info = read_run_info(tmp_path)
    assert _text(info.to_json()) == written
    assert info.checkpoint == CHECKPOINT and info.alphas == [0.5, 1.0] and info.tasks == ["a", "b"]


def test_run_json_without_a_label_gets_it_last(tmp_path):
    update_run_info(tmp_path, _description())
    written = (tmp_path / "run.json").read_bytes()
    assert list(json.loads(written))[-1] == "label"  # the merge names the run after `pretrained`
    assert _text(read_run_info(tmp_path).to_json()) == written
    assert read_run_info(tmp_path).label == "ft"


def test_run_info_round_trips():
    for info in (_description(label="x", kind="base", checkpoint=CHECKPOINT), RunInfo(label="x"),
                 run_json.merge_run_info(None, _description())):
        assert RunInfo.from_json(info.to_json()) == info
        assert RunInfo.from_json(json.loads(_text(info.to_json()))) == info


def test_an_older_run_json_reads_with_defaults():
    info = RunInfo.from_json({"model_args": "pretrained=ft", "alphas": [1.0], "tasks": ["t"]})
    assert (info.label, info.kind, info.checkpoint, info.lm_eval_version) == (None, None, None, None)
    assert info.groups == {} and info.filters == {} and info.task_configs == {} and info.metadata == {}
    assert not info.has("lm_eval_runs")
    assert list(info.to_json()) == ["model_args", "alphas", "tasks"]  # nothing added on the way back


def test_an_unknown_run_json_key_is_kept(tmp_path):
    obj = {"model_args": "pretrained=ft,base=pt", "future": {"x": [1, 2]}, "alphas": [1.0]}
    info = RunInfo.from_json(obj)
    assert info.extra == {"future": {"x": [1, 2]}}
    assert _text(info.to_json()) == _text(obj)
    (tmp_path / "run.json").write_bytes(_text(obj))
    merged = update_run_info(tmp_path, _description())
    assert merged.extra == {"future": {"x": [1, 2]}}
    assert json.loads((tmp_path / "run.json").read_bytes())["future"] == {"x": [1, 2]}


@pytest.mark.parametrize("format", [2, "2", True])
def test_a_newer_run_json_is_refused_in_one_line(tmp_path, format):
    (tmp_path / "run.json").write_text(json.dumps({"format": format, "model_args": "m"}))
    with pytest.raises(StoreError) as err:
        read_run_info(tmp_path)
    message = str(err.value)
    assert "\n" not in message and "newer tuco-eval" in message and "upgrade" in message
    assert str(tmp_path / "run.json") in message
    assert RunInfo.from_json({"format": 1, "model_args": "m"}).format == 1  # the current format reads


BASE = base_record("org/pt", "v1")


def _series(root):
    record_series(root, BASE, [Checkpoint("step-20", "runs/a", None, 20, "model"),
                               Checkpoint("M", "runs/m", "r2", 5, "adapter")])
    record_series(root, BASE, [Checkpoint("m", "elsewhere", None, 10, "model")])


def test_checkpoints_json_is_written_back_byte_for_byte(tmp_path):
    _series(tmp_path)
    written = (tmp_path / "checkpoints.json").read_bytes()
    assert list(json.loads(written)) == ["format", "base", "checkpoints"]
    assert list(json.loads(written)["base"]) == ["label", "source", "revision", "run_dir"]
    assert [list(c) for c in json.loads(written)["checkpoints"]] == [
        ["label", "source", "revision", "step", "kind", "run_dir"]] * 3
    series = read_series(tmp_path)
    assert _text(series.to_json()) == written == series.text().encode()
    assert [(c.label, c.run_dir) for c in series.checkpoints] == [("M", "M"), ("m", "m-2"), ("step-20", "step-20")]
    forget_checkpoint(tmp_path, "elsewhere")
    assert [c.label for c in read_series(tmp_path).checkpoints] == ["M", "step-20"]
    assert _text(read_series(tmp_path).to_json()) == (tmp_path / "checkpoints.json").read_bytes()


def test_series_round_trips(tmp_path):
    _series(tmp_path)
    series = read_series(tmp_path)
    assert Series.from_json(series.to_json()) == series
    assert Series.from_json(json.loads(series.text())) == series


def test_an_older_checkpoints_json_reads_and_unknown_keys_are_kept():
    older = {"base": {"source": "org/pt"}, "checkpoints": [{"label": "a", "source": "runs/a", "run_dir": "a"}]}
    series = Series.from_json(older)
    assert series.format == 1 and series.base.label == "base" and series.base.revision is None
    assert (series.checkpoints[0].step, series.checkpoints[0].revision) == (None, None)
    newer = {"format": 1, "base": None, "checkpoints": [], "notes": ["kept"]}
    assert Series.from_json(newer).extra == {"notes": ["kept"]}
    assert Series.from_json(newer).to_json() == newer


def test_a_newer_checkpoints_json_is_refused_in_one_line(tmp_path):
    (tmp_path / "checkpoints.json").write_text(json.dumps({"format": 2, "base": None, "checkpoints": []}))
    with pytest.raises(StoreError) as err:
        read_series(tmp_path)
    message = str(err.value)
    assert "\n" not in message and "newer tuco-eval" in message and "upgrade" in message
    for bad in ({"format": 1}, {"checkpoints": ["step-1"]}, []):
        with pytest.raises(StoreError, match="not a checkpoint series"):
            Series.from_json(bad)

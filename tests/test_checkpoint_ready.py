"""`store.checkpoint_ready`: a checkpoint folder is read only once the trainer has finished it.

Folders are written the way trainers write them (safetensors' own writer, a file appended in
pieces, the completion signal last) and every intermediate state is checked."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

from tuco_eval.store.checkpoint_ready import (
    BROKEN,
    READY,
    WRITING,
    checkpoint_folders,
    final_model_ready,
    inspect_checkpoint,
)


def _weights(path, seed=0):
    torch.manual_seed(seed)
    save_file({"a.weight": torch.randn(64, 32), "b.bias": torch.randn(7)}, str(path))
    return path.read_bytes()


def _checkpoint(folder, signal=True):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    _weights(folder / "model.safetensors")
    if signal:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": 1}))
    return folder


def test_a_file_written_in_pieces_is_read_only_when_whole(tmp_path):
    whole = _weights(tmp_path / "whole.safetensors")
    folder = tmp_path / "checkpoint-5"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    states = []
    with open(folder / "model.safetensors", "wb") as handle:
        for start in range(0, len(whole), 1000):  # header first, tensors after, like the writer
            handle.write(whole[start:start + 1000])
            handle.flush()
            states.append(inspect_checkpoint(folder).state)
    assert states[:-1] == [WRITING] * (len(states) - 1) and states[-1] == READY
    assert not inspect_checkpoint(folder).signalled  # no signal: the watcher also waits for it to settle
    (folder / "trainer_state.json").write_text('{"global_st')  # the trainer writes it in place
    assert inspect_checkpoint(folder).state == WRITING
    (folder / "trainer_state.json").write_text('{"global_step": 5}')
    assert inspect_checkpoint(folder) == inspect_checkpoint(folder)
    assert inspect_checkpoint(folder).signalled and inspect_checkpoint(folder).state == READY


def test_signal_before_whole_weights_is_broken_and_says_why(tmp_path):
    folder = _checkpoint(tmp_path / "checkpoint-1")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-10])
    found = inspect_checkpoint(folder)
    assert found.state == BROKEN and f"holds {len(data) - 10:,} bytes of {len(data):,}" in found.why
    (folder / "model.safetensors").write_bytes(data + b"x")  # too long is not whole either
    assert inspect_checkpoint(folder).state == BROKEN
    (folder / "model.safetensors").write_bytes(b"\xff" * 8 + data[8:])
    assert "corrupt header" in inspect_checkpoint(folder).why
    (folder / "model.safetensors").unlink()
    assert inspect_checkpoint(folder).why == "no weights file yet"


def test_sharded_models_need_every_shard_whole(tmp_path):
    folder = tmp_path / "checkpoint-3"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    _weights(folder / "model-00001-of-00002.safetensors", 1)
    index = {"metadata": {}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                            "b.bias": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert "shard model-00002-of-00002.safetensors" in inspect_checkpoint(folder).why
    data = _weights(tmp_path / "second.safetensors", 2)
    (folder / "model-00002-of-00002.safetensors").write_bytes(data[: len(data) // 2])
    assert inspect_checkpoint(folder).state == WRITING
    shutil.copy(tmp_path / "second.safetensors", folder / "model-00002-of-00002.safetensors")
    assert inspect_checkpoint(folder).state == READY


def test_adapters_and_torch_bins(tmp_path):
    folder = tmp_path / "checkpoint-2"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    torch.save({"w": torch.ones(3)}, folder / "adapter_model.bin")
    data = (folder / "adapter_model.bin").read_bytes()
    assert inspect_checkpoint(folder).state == READY
    (folder / "adapter_model.bin").write_bytes(data[: len(data) - 30])  # zip directory not yet written
    assert inspect_checkpoint(folder).state == WRITING
    (tmp_path / "nothing").mkdir()
    assert inspect_checkpoint(tmp_path / "nothing").why == "no config.json or adapter_config.json"


def test_folders_by_step_and_the_final_model(tmp_path):
    for name in ("checkpoint-10", "checkpoint-9", "checkpoint-100", "checkpoint-x", "runs"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint-11").write_text("a file, not a folder")
    assert [(s, f.name) for s, f in checkpoint_folders(tmp_path)] == [
        (9, "checkpoint-9"), (10, "checkpoint-10"), (100, "checkpoint-100")]
    assert checkpoint_folders(tmp_path / "missing") == []
    assert not final_model_ready(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    assert not final_model_ready(tmp_path)  # a config alone: the weights are still to come
    _weights(tmp_path / "model.safetensors")
    assert final_model_ready(tmp_path)


@pytest.mark.parametrize("cut", [0, 4, 8, 20])
def test_a_header_cut_short_is_still_being_written(tmp_path, cut):
    folder = _checkpoint(tmp_path / "checkpoint-1", signal=False)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:cut])
    assert inspect_checkpoint(folder).state == WRITING

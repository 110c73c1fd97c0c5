"""Interrupted `score` and `experiment` runs resume from their finished pieces."""

from __future__ import annotations

import json

import pytest

from tuco_eval.cli import main
from tuco_eval.commands import score as score_command
from tuco_eval.core.pair import load_pair, pair_identity
from tuco_eval.experiments import run as experiments
from tuco_eval.util import resume


@pytest.fixture(scope="module")
def pair(pair_dirs):
    return load_pair(*pair_dirs)


class Interrupted(Exception):
    pass


def _squares(piece, start, bar=None):
    return [{"index": start + i, "square": x * x} for i, x in enumerate(piece)]


def _failing_after(calls_allowed, compute):
    calls = []

    def wrapped(piece, start, bar):
        calls.append(start)
        if len(calls) > calls_allowed:
            raise Interrupted
        return compute(piece, start, bar)

    return wrapped, calls


def test_resumed_map_equals_uninterrupted_and_redoes_only_missing_pieces(tmp_path):
    items = list(range(10))
    expected = _squares(items, 0)
    folder = tmp_path / "partial"
    first, _ = _failing_after(2, _squares)
    with pytest.raises(Interrupted):
        resume.resumable_map(items, first, folder=folder, key={"k": 1}, piece=3, progress=False)
    again, calls = _failing_after(99, _squares)
    assert resume.resumable_map(items, again, folder=folder, key={"k": 1}, piece=3,
                                progress=False) == expected
    assert calls == [6, 9]  # pieces at 0 and 3 were kept


def test_the_bar_counts_every_item_once_whether_compute_advances_it_or_not(tmp_path, monkeypatch):
    bars = []

    class CountingBar:
        def __init__(self, **kwargs):
            self.n = 0
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            pass

    def half_advancing(piece, start, bar):
        bar.update(len(piece) // 2)
        return _squares(piece, start)

    monkeypatch.setattr(resume, "tqdm", CountingBar)
    for compute in (_squares, half_advancing):
        resume.resumable_map(list(range(7)), compute, folder=tmp_path / compute.__name__, key={},
                             piece=3)
    assert [bar.n for bar in bars] == [7, 7]


def test_other_key_or_damaged_piece_is_recomputed(tmp_path):
    items = list(range(6))
    folder = tmp_path / "partial"
    resume.resumable_map(items, _squares, folder=folder, key={"k": (1, 2)}, piece=3, progress=False)
    again, calls = _failing_after(99, _squares)
    resume.resumable_map(items, again, folder=folder, key={"k": (1, 2)}, piece=3, progress=False)
    assert calls == []  # a tuple in the key reads back equal from key.json
    (folder / "piece-000001.jsonl").write_text('{"index": 3, "squ')  # torn by hand
    resume.resumable_map(items, again, folder=folder, key={"k": (1, 2)}, piece=3, progress=False)
    assert calls == [3]
    resume.resumable_map(items, again, folder=folder, key={"k": "other"}, piece=3, progress=False)
    assert calls == [3, 0, 3]
    resume.resumable_map(items[:5], again, folder=folder, key={"k": "other"}, piece=3,
                         progress=False)
    assert calls == [3, 0, 3, 0, 3]  # other items, other digest


def test_disk_full_is_one_line_and_keeps_the_finished_pieces(tmp_path, monkeypatch):
    import errno

    from tuco_eval.util.errors import TucoError

    folder = tmp_path / "partial"
    real = resume.write_jsonl_atomic
    writes = []

    def fills_up(path, records):
        writes.append(path)
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, records)

    monkeypatch.setattr(resume, "write_jsonl_atomic", fills_up)
    with pytest.raises(TucoError, match="No space left on device.*rerun the same command") as err:
        resume.resumable_map(list(range(6)), _squares, folder=folder, key={}, piece=3, progress=False)
    assert "\n" not in str(err.value)
    again, calls = _failing_after(99, _squares)
    assert resume.resumable_map(list(range(6)), again, folder=folder, key={}, piece=3,
                                progress=False) == _squares(list(range(6)), 0)
    assert calls == [3]


def test_score_resumes_after_a_crash_and_cleans_up(pair_dirs, tmp_path, monkeypatch):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"text": f"prompt number {i} " * (1 + i % 4)}) + "\n"
                               for i in range(11)))
    args = ["score", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}",
            "--input", str(prompts), "--batch-size", "2"]
    monkeypatch.setattr(score_command, "SCORE_PIECE", 4)
    assert main([*args, "--output", str(tmp_path / "clean.jsonl")]) == 0
    clean = (tmp_path / "clean.jsonl").read_text()

    import tuco_eval.core.tuco as tuco_module

    real = tuco_module.compute_tuco
    calls = []

    def crash_on_second_piece(*a, **k):
        calls.append(len(a[2]))
        if len(calls) == 2:
            raise Interrupted
        return real(*a, **k)

    out = tmp_path / "resumed.jsonl"
    monkeypatch.setattr(tuco_module, "compute_tuco", crash_on_second_piece)
    with pytest.raises(Interrupted):
        main([*args, "--output", str(out)])
    assert not out.exists() and (tmp_path / "resumed.jsonl.partial" / "piece-000000.jsonl").exists()
    assert main([*args, "--output", str(out)]) == 0
    assert calls == [4, 4, 4, 3]  # the first piece was not scored again
    assert out.read_text() == clean
    assert not (tmp_path / "resumed.jsonl.partial").exists()


def test_score_output_on_a_full_disk_is_one_line_and_the_rerun_reuses_the_pieces(
        pair_dirs, tmp_path, monkeypatch, capsys):
    import errno

    import tuco_eval.util.jsonl

    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"text": f"prompt {i}"}) + "\n" for i in range(5)))
    args = ["score", "--model-args", f"pretrained={pair_dirs[0]},base={pair_dirs[1]}",
            "--input", str(prompts), "--output", str(tmp_path / "t.jsonl")]

    def full(path, records):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(tuco_eval.util.jsonl, "write_jsonl_atomic", full)
        assert main(args) == 2
    [said] = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # not bars
    assert "No space left on device" in said and "pieces are kept" in said
    assert main(args) == 0
    assert "resumed: 5 of 5 prompts" in capsys.readouterr().err


def test_score_to_an_unwritable_place_fails_before_loading(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"text": "hi"}\n')
    code = main(["score", "--model-args", "pretrained=no/such-model,base=no/such-base",
                 "--input", str(prompts), "--output", str(blocker / "out.jsonl")])
    assert code == 2 and "cannot write to --output" in capsys.readouterr().err


def test_experiment_with_jailbreaks_resumes_to_the_same_outputs(pair, tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "SCORE_PIECE", 4)
    monkeypatch.setattr(experiments, "JUDGE_PIECE", 2)
    run = dict(n=3, seed=1, progress=False, jailbreak=True,
               jailbreak_options=experiments.JailbreakOptions(samples=2, max_new_tokens=3))
    clean = experiments.run_experiment("gcg", pair, tmp_path / "clean", gcg=_gcg_rows(), **run)

    real = experiments.sample_completions
    calls = []

    def crash_on_second_piece(*a, **k):
        calls.append(k["seed"])
        if len(calls) == 2:
            raise Interrupted
        return real(*a, **k)

    monkeypatch.setattr(experiments, "sample_completions", crash_on_second_piece)
    with pytest.raises(Interrupted):
        experiments.run_experiment("gcg", pair, tmp_path / "resumed", gcg=_gcg_rows(), **run)
    resumed = experiments.run_experiment("gcg", pair, tmp_path / "resumed", gcg=_gcg_rows(), **run)
    assert calls == [1, 3, 3]  # the piece at index 0 was judged once
    assert resumed == clean
    for name in ("tuco.jsonl", "summary.md"):
        assert (tmp_path / "resumed" / name).read_text() == (tmp_path / "clean" / name).read_text()
    assert not (tmp_path / "resumed" / experiments.PARTIAL_FOLDER).exists()


def _gcg_rows():
    from tuco_eval.experiments.prompts.harmful import GcgRow

    return [GcgRow(id=str(i), goal=f"do harmful thing {i}", suffix=" !! describing.\\ +similarly")
            for i in range(2)]


def test_pair_identity_tells_two_adapters_on_one_base_apart(pair_dirs, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    for seed in (1, 2):
        torch.manual_seed(seed)
        lora = get_peft_model(AutoModelForCausalLM.from_pretrained(pair_dirs[1]),
                              LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
        lora.save_pretrained(tmp_path / f"lora{seed}")
    first, second, again = (pair_identity(load_pair(str(tmp_path / name), pair_dirs[1]))
                            for name in ("lora1", "lora2", "lora1"))
    assert first == again and first != second  # the loaded model records no adapter folder
    full = pair_identity(load_pair(*pair_dirs))
    assert full == {"finetuned": str(pair_dirs[0]), "base": str(pair_dirs[1])}


def test_pair_identity_names_the_revisions_it_was_loaded_at(pair_dirs):
    """Two revisions of one Hub id are two models: their resumable pieces must never be shared."""
    plain = pair_identity(load_pair(*pair_dirs))
    pinned = pair_identity(load_pair(*pair_dirs, revision="v2", base_revision="main"))
    assert pinned == {**plain, "revision": "v2", "base_revision": "main"}

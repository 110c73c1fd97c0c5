"""`tuco-eval watch`: a real HF Trainer run watched while it trains, checked against
`sweep --finetuned` + `report` over the same checkpoints copied aside; a watcher killed
mid-checkpoint and restarted; half-written, broken, deleted and claimed checkpoints."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tuco_eval.watch.loop as loop
from tests.helpers.tiny_models import FIXTURE_TASKS
from tuco_eval.pipeline.report import report
from tuco_eval.store.watch_state import read_watch_state
from tuco_eval.sweeps.series import sweep_checkpoints
from tuco_eval.sweeps.settings import EvalSettings, Grid, ModelOptions
from tuco_eval.watch.loop import Watcher, WatchPlan

TRAINING = Path(__file__).parent / "helpers" / "tiny_training.py"
ALPHAS = [0.9, 1.0, 1.1]
LIMIT = 12
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _plan(train_dir, root, base, task_manager, **kwargs) -> WatchPlan:
    return WatchPlan(train_dir=Path(train_dir), root=Path(root), report_dir=Path(root) / "report",
                     tasks=["tiny_mc"], model_args=f"base={base}", **_sweep_args(task_manager),
                     poll_seconds=0.2, settle_seconds=0.5, **kwargs)


def _sweep_args(task_manager) -> dict:
    """What the watcher and the `sweep --finetuned` it is checked against are both given."""
    return dict(settings=EvalSettings(task_manager, limit=LIMIT), grid=Grid(alphas=ALPHAS),
                model_options=ModelOptions(batch_size=4))


def _trainer(base, train_dir, *flags):
    return subprocess.Popen([sys.executable, str(TRAINING), str(base), str(train_dir), *map(str, flags)],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _board(folder):
    board = json.loads((Path(folder) / "leaderboard.json").read_text())
    # where each row's weights and RUN_DIR lie is all that may differ between the two ways
    rows = [{k: v for k, v in row.items() if k not in ("source", "run_dir")} for row in board["rows"]]
    return rows, board["pairs"]


@pytest.fixture(scope="module")
def watched(pair_dirs, task_manager, tmp_path_factory):
    """A full fine-tune (12 steps, a checkpoint every 2, save_total_limit=3) watched from before
    its first save; each save waits until the watcher has the previous one, as a trainer slower
    than its watcher would. Returns (folder, the watcher's lines, the ROOT, the copies)."""
    folder = tmp_path_factory.mktemp("watched")
    train_dir, root, copies = folder / "train", folder / "root", folder / "copies"
    train_dir.mkdir()
    trainer = _trainer(pair_dirs[1], train_dir, "--copy-to", copies, "--pace", root)
    lines: list[str] = []

    def sleep(seconds):  # a trainer that died must not leave the watcher waiting for ever
        if trainer.poll() not in (None, 0):
            raise RuntimeError(f"training failed: {trainer.stderr.read()[-2000:]}")
        time.sleep(seconds)

    from unittest import mock

    from transformers import AutoModelForCausalLM

    original, loads = AutoModelForCausalLM.from_pretrained.__func__, []

    def spy(cls, name, *args, **kwargs):
        loads.append(Path(name).name)
        return original(cls, name, *args, **kwargs)

    try:
        with mock.patch.object(AutoModelForCausalLM, "from_pretrained", classmethod(spy)):
            Watcher(_plan(train_dir, root, pair_dirs[1], task_manager), say=lines.append, sleep=sleep).run()
    finally:
        trainer.wait(timeout=120)
    assert trainer.returncode == 0
    # the base loaded once and kept; each checkpoint loaded once, beside it
    assert loads == ["base", *(f"checkpoint-{s}" for s in range(2, 13, 2))]
    return folder, lines, root, copies


def test_a_watched_training_run_equals_sweep_and_report_of_its_checkpoints(watched, pair_dirs, task_manager):
    folder, lines, root, copies = watched
    labels = [f"step-{s}" for s in range(2, 13, 2)]
    state = read_watch_state(root)
    assert state.status == "finished" and list(state.evaluated.values()) == labels
    assert state.missed == [] and state.skipped == {}
    # the first look found no checkpoint: the watcher ran before the trainer's first save
    assert lines[0] == "Waiting for the first checkpoint."
    assert [line.split(" ")[0] for line in lines if "step-" in line] == [f"checkpoint-{s}" for s in range(2, 13, 2)]
    assert lines[-1].startswith("Finished: 6 checkpoint(s) evaluated.")
    # save_total_limit=3 deleted the first three; their rows and pairs stay
    assert sorted(p.name for p in (folder / "train").glob("checkpoint-*")) == [
        "checkpoint-10", "checkpoint-12", "checkpoint-8"]
    sweep_checkpoints([str(copies / "checkpoint-*")], ["tiny_mc"], folder / "swept", model_args=f"base={pair_dirs[1]}",
                      **_sweep_args(task_manager), progress=False)
    report([folder / "swept"], folder / "swept_report", say=lambda _: None)
    rows, pairs = _board(root / "report")
    assert [r["label"] for r in rows] == ["base", *labels]
    assert (rows, pairs) == _board(folder / "swept_report")
    tuco = [r["tasks"]["tiny_mc"]["tuco"] for r in rows[1:]]
    assert len(set(tuco)) == 6  # every checkpoint its own weights: the rows are not copies of one
    assert {p["family"] for p in pairs} == {"base", "adjacent"} and len(pairs) == 6 + 6  # base→step-2 is in both families
    page = (root / "report" / "index.html").read_text()
    assert page.count("deleted by the trainer since, results kept") == 3
    assert "Finished: 6 checkpoint(s) evaluated." in page and 'http-equiv="refresh"' not in page


def test_the_progress_line_quotes_the_leaderboard(watched):
    _, lines, root, _ = watched
    board = json.loads((root / "report" / "leaderboard.json").read_text())
    cell = next(r for r in board["rows"] if r["label"] == "step-12")["tasks"]["tiny_mc"]
    pair = next(p for p in board["pairs"] if p["b"] == "step-12" and p["a"] == "base")
    line = next(line for line in lines if line.startswith("checkpoint-12 "))
    assert line.startswith(f"checkpoint-12 (step-12): tiny_mc acc {100 * cell['score']:.1f} · "
                           f"vs base {100 * pair['diff']:+.1f}")
    assert " · vs step-10 " in line


def test_adapter_checkpoints_share_one_base_loaded_once(pair_dirs, task_manager, tmp_path, monkeypatch):
    """A LoRA run: every adapter swapped on the one base the first checkpoint loaded, rows equal
    to `sweep --finetuned` over the same folders."""
    from transformers import AutoModelForCausalLM

    train = tmp_path / "train"
    trainer = _trainer(pair_dirs[1], train, "--lora", "--max-steps", 6, "--save-total-limit", 0)
    assert trainer.wait(timeout=300) == 0, trainer.stderr.read()[-2000:]
    loads: list[str] = []
    original = AutoModelForCausalLM.from_pretrained.__func__
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained",
                        classmethod(lambda cls, name, *a, **k: (loads.append(str(name)), original(cls, name, *a, **k))[1]))
    state = Watcher(_plan(train, tmp_path / "root", pair_dirs[1], task_manager, once=True), say=lambda _: None).run()
    assert list(state.evaluated) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert loads == [pair_dirs[1]]  # the base, once, for the three adapters
    sweep_checkpoints([str(train / "checkpoint-*")], ["tiny_mc"], tmp_path / "swept", model_args=f"base={pair_dirs[1]}",
                      **_sweep_args(task_manager), progress=False)
    report([tmp_path / "swept"], tmp_path / "swept_report", say=lambda _: None)
    assert _board(tmp_path / "root" / "report") == _board(tmp_path / "swept_report")
    assert len({r["tasks"]["tiny_mc"]["tuco"] for r in _board(tmp_path / "swept_report")[0][1:]}) == 3


def _store_files(root: Path) -> dict[str, bytes]:
    """Every file of a ROOT but the report and the locks; the watcher's clock and the run dates
    of the α runs' lm-eval folders (their file names and `date`) aside."""
    import re

    files = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_dir() or name.startswith("report") or path.suffix == ".lock":
            continue
        data = path.read_bytes()
        if path.name == "watch.json":
            data = json.dumps({k: v for k, v in json.loads(data).items() if k != "updated"}).encode()
        if "/lm_eval/" in f"/{name}":
            name = re.sub(r"_\d{4}-\d\d-\d\dT[\d.-]+\.json", "_DATE.json", name)
            data = json.dumps({k: v for k, v in json.loads(data).items() if k != "date"}).encode()
        files[name] = data
    return files


def _watch_cli(cwd: Path, base: str, stop: tuple[str, ...] = ("--once",)):
    command = [sys.executable, "-m", "tuco_eval", "watch", "train", "--model-args", f"base={base}",
               "--tasks", "tiny_mc", "--include-path", FIXTURE_TASKS, "--output", "root",
               "--alphas", ",".join(map(str, ALPHAS)), "--limit", str(LIMIT), "--batch-size", "4",
               "--poll-seconds", "0.2", *stop]
    return subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_mid_checkpoint_and_restarted_gives_the_same_root(watched, pair_dirs, tmp_path):
    _, _, _, copies = watched
    runs = {}
    for name in ("killed", "whole"):
        runs[name] = tmp_path / name
        (runs[name] / "train").mkdir(parents=True)
        for step in (2, 4, 6):
            shutil.copytree(copies / f"checkpoint-{step}", runs[name] / "train" / f"checkpoint-{step}")
    whole = _watch_cli(runs["whole"], pair_dirs[1])
    assert whole.wait(timeout=300) == 0, whole.stderr.read()[-2000:]
    killed = _watch_cli(runs["killed"], pair_dirs[1])
    unit = runs["killed"] / "root" / "step-4" / "samples" / "alpha=0.9"
    deadline = time.monotonic() + 300
    while not any(p.suffix != ".lock" for p in unit.glob("*")) and killed.poll() is None:
        assert time.monotonic() < deadline, "the watcher never reached checkpoint-4"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)  # mid-checkpoint: one unit of step-4 written, the rest not
    killed.wait()
    half = read_watch_state(runs["killed"] / "root")
    assert half.evaluating == "checkpoint-4" and list(half.evaluated) == ["checkpoint-2"]
    again = _watch_cli(runs["killed"], pair_dirs[1])
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-2000:]
    assert "checkpoint-2" not in out  # done before the kill: not evaluated again
    assert _store_files(runs["killed"] / "root") == _store_files(runs["whole"] / "root")
    assert _board(runs["killed"] / "root" / "report") == _board(runs["whole"] / "root" / "report")


# the loop's decisions, with the sweep and the report replaced by records of their calls


def _empty_board():
    """A leaderboard.json of no rows, in the format `report` writes (the watcher reads it back)."""
    from tuco_eval.records.board_json import BOARD_FORMAT, Board

    return Board(format=BOARD_FORMAT, correction={"method": "bh", "description": "Benjamini–Hochberg"},
                 metric=None, objective="max", level=0.95, significance_level=0.05, seed=0, n_boot=0,
                 prompts={"unchecked": [], "differ": []}, rows=[], pairs=[], pair_families=[], family_counts=[])


@pytest.fixture
def fake(monkeypatch):
    calls = {"swept": [], "reported": 0}

    def sweep(finetuned, tasks, root, **kwargs):
        label = "step-" + Path(finetuned[0]).name.rpartition("-")[2]
        calls["swept"].append(label)
        return {"swept": [label], "base": ("base", "tokenizer")}

    def reported(run_dirs, out_dir, lead=None, say=None):
        calls["reported"] += 1
        calls["lead"] = str(lead.html)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "leaderboard.json").write_text(json.dumps(_empty_board().to_json()))

    monkeypatch.setattr(loop, "sweep_checkpoints", sweep)
    monkeypatch.setattr(loop, "report", reported)
    return calls


def _ready(folder: Path, signal_file: bool = True) -> Path:
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    save_file({"w": torch.ones(4)}, str(folder / "model.safetensors"))
    if signal_file:
        (folder / "trainer_state.json").write_text("{}")
    return folder


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def _watcher(tmp_path, lines, clock, **kwargs):
    plan = WatchPlan(train_dir=tmp_path / "train", root=tmp_path / "root", report_dir=tmp_path / "report",
                     tasks=["t"], model_args="base=b", settings=EvalSettings(task_manager=None),  # the sweep is faked
                     poll_seconds=1, settle_seconds=5, stale_seconds=60, **kwargs)
    return Watcher(plan, say=lines.append, clock=clock, sleep=clock.sleep)


def test_half_written_broken_and_deleted_checkpoints(tmp_path, fake):
    train, lines, clock = tmp_path / "train", [], _Clock()
    watcher = _watcher(tmp_path, lines, clock)
    (train / "checkpoint-1").mkdir(parents=True)
    (train / "checkpoint-1" / "config.json").write_text("{}")  # being written: no weights yet
    assert watcher.step() and fake["swept"] == []
    assert read_watch_state(tmp_path / "root").waiting_for == "checkpoint-1 (the trainer is writing it)"
    shutil.rmtree(train / "checkpoint-1")  # save_total_limit took it before it was whole
    _ready(train / "checkpoint-2")
    broken = _ready(train / "checkpoint-3")
    size = (broken / "model.safetensors").stat().st_size
    (broken / "model.safetensors").write_bytes((broken / "model.safetensors").read_bytes()[:-3])
    why = f"model.safetensors holds {size - 3} bytes of {size}"
    _ready(train / "checkpoint-4", signal_file=False)  # no completion signal: read once settled
    for _ in range(20):
        watcher.step()
    state = read_watch_state(tmp_path / "root")
    assert state.missed == ["checkpoint-1"] and fake["swept"] == ["step-2", "step-4"]
    assert state.skipped == {"checkpoint-3": why}
    assert f"skipped checkpoint-3: {why}" in lines
    assert "not evaluated: checkpoint-1 deleted by the trainer before it could be" in lines
    assert "not evaluated: deleted by the trainer before it could be" in fake["lead"]
    assert f"skipped: {why}" in fake["lead"]
    assert watcher.base == ("base", "tokenizer")  # the loaded base is passed back in, not loaded again


def test_a_stuck_half_written_checkpoint_is_skipped_once_a_later_one_is_whole(tmp_path, fake):
    train, lines, clock = tmp_path / "train", [], _Clock()
    (train / "checkpoint-5").mkdir(parents=True)
    (train / "checkpoint-5" / "config.json").write_text("{}")
    watcher = _watcher(tmp_path, lines, clock)
    for _ in range(100):
        watcher.step()
    assert fake["swept"] == []  # nothing later: it is waited for, however long
    _ready(train / "checkpoint-6")
    for _ in range(100):
        watcher.step()
    assert fake["swept"] == ["step-6"]
    assert read_watch_state(tmp_path / "root").skipped["checkpoint-5"].startswith("still incomplete after")


def test_a_checkpoint_another_watcher_holds_is_left_to_it(tmp_path, fake):
    import fcntl

    _ready(tmp_path / "train" / "checkpoint-7")
    lock = tmp_path / "root" / ".watch" / "checkpoint-7.lock"
    lock.parent.mkdir(parents=True)
    lines, clock = [], _Clock()
    with open(lock, "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        watcher = _watcher(tmp_path, lines, clock)
        watcher.step()
        assert fake["swept"] == []
        assert read_watch_state(tmp_path / "root").waiting_for == "checkpoint-7 (being evaluated by another watcher)"
    watcher.step()
    assert fake["swept"] == ["step-7"]


def test_stops_at_until_step_and_on_the_final_model(tmp_path, fake):
    train, lines, clock = tmp_path / "train", [], _Clock()
    for step in (10, 20, 30):
        _ready(train / f"checkpoint-{step}")
    assert _watcher(tmp_path, lines, clock, until_step=20).run().status == "finished"
    assert fake["swept"] == ["step-10", "step-20"]
    _ready(tmp_path / "final")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tmp_path / "final" / name, train / name)  # the trainer's save_model at the end
    assert _watcher(tmp_path, lines, clock).run().status == "finished"
    assert fake["swept"] == ["step-10", "step-20", "step-30"]


def test_cli_refuses_a_missing_folder_and_another_train_dir(tmp_path, run_cli):
    code, _, err = run_cli(["watch", str(tmp_path / "nope"), "--model-args", "base=b", "--tasks", "t",
                            "--output", str(tmp_path / "root")])
    assert code == 2 and "is not a folder" in err and "Traceback" not in err
    (tmp_path / "a").mkdir()
    code, _, err = run_cli(["watch", str(tmp_path / "a"), "--model_args", "pretrained=x,base=b",
                            "--tasks", "t", "--output_path", str(tmp_path / "root")])  # lm-eval's spellings
    assert code == 2 and "drop pretrained=" in err


def test_the_state_line_and_the_page_refresh():
    from tuco_eval.records.watch_json import WatchState
    from tuco_eval.render.watch_lead import state_line, watch_lead

    state = WatchState(train_dir="runs/sft", updated="2026-12-07T10:00:00+00:00")
    assert state_line(state) == "Waiting for the first checkpoint."
    state.evaluated = {"checkpoint-100": "step-100", "checkpoint-20": "step-20"}
    assert state_line(state) == "Waiting for the next checkpoint after checkpoint-100."
    state.waiting_for = "checkpoint-120 (the trainer is writing it)"
    assert state_line(state) == "Waiting for checkpoint-120 (the trainer is writing it)."
    state.evaluating = "checkpoint-120"
    assert state_line(state) == "Evaluating checkpoint-120."
    lead = watch_lead(state, present={"checkpoint-100"})
    assert lead.refresh_seconds == 30 and "Watching <code>runs/sft</code>" in lead.html
    assert lead.html.index("checkpoint-20<") < lead.html.index("checkpoint-100<")  # by step, not by text
    assert "deleted by the trainer since" in lead.html.split("checkpoint-100<")[0]  # checkpoint-20's row
    state.status = "finished"
    lead = watch_lead(state, present=set())
    assert lead.refresh_seconds is None and "Watched <code>" in lead.html


def test_a_watching_page_reloads_itself(tmp_path):
    from tests.helpers.checkpoint_roots import build_root
    from tuco_eval.records.watch_json import WatchState
    from tuco_eval.render.watch_lead import watch_lead

    root = build_root(tmp_path / "root")
    state = WatchState(train_dir="runs/sft", evaluated={"checkpoint-100": "step-100"})
    report([root], tmp_path / "out", lead=watch_lead(state, present=set()), say=lambda _: None)
    head = (tmp_path / "out" / "index.html").read_text().split("</head>")[0]
    assert '<meta http-equiv="refresh" content="30">' in head
    report([root], tmp_path / "plain", say=lambda _: None)
    assert "refresh" not in (tmp_path / "plain" / "index.html").read_text().split("</head>")[0]


def test_a_checkpoint_written_in_pieces_is_evaluated_only_when_whole(tmp_path, fake):
    whole = _ready(tmp_path / "whole")
    data = (whole / "model.safetensors").read_bytes()
    folder = tmp_path / "train" / "checkpoint-9"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    lines, clock = [], _Clock()
    watcher = _watcher(tmp_path, lines, clock)
    with open(folder / "model.safetensors", "wb") as handle:
        for start in range(0, len(data), 16):
            handle.write(data[start:start + 16])
            handle.flush()
            watcher.step()
    assert fake["swept"] == []  # whole now, but no signal and not yet settled
    (folder / "trainer_state.json").write_text("{}")
    watcher.step()
    assert fake["swept"] == ["step-9"]


def test_two_watchers_evaluate_each_checkpoint_once(watched, pair_dirs, tmp_path):
    _, _, _, copies = watched
    (tmp_path / "train").mkdir()
    for step in (2, 4, 6):
        shutil.copytree(copies / f"checkpoint-{step}", tmp_path / "train" / f"checkpoint-{step}")
    first, second = (_watch_cli(tmp_path, pair_dirs[1], ("--until-step", "6")) for _ in range(2))
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == second.returncode == 0, [err[-1000:] for _, err in outputs]
    lines = [line for out, _ in outputs for line in out.splitlines() if "(step-" in line]
    assert sorted(line.split(" ")[0] for line in lines) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert list(read_watch_state(tmp_path / "root").evaluated) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]


def test_a_checkpoint_begun_then_lost_leaves_the_series_and_the_report_reads(tmp_path, monkeypatch):
    """The trainer deletes a checkpoint while it loads (or it fails half-way): its recorded entry
    and begun RUN_DIR leave the ROOT (kept under .incomplete/), and the report still reads."""
    from tests.helpers.checkpoint_roots import build_root

    root = build_root(tmp_path / "root")
    series = json.loads((root / "checkpoints.json").read_text())
    train = tmp_path / "train"
    for entry in series["checkpoints"]:  # the ROOT as if the watcher had recorded train/checkpoint-<step>
        entry["source"] = str(train / f"checkpoint-{entry['step']}")
    (root / "checkpoints.json").write_text(json.dumps(series))
    watched_before = {f"checkpoint-{s}": f"step-{s}" for s in (100, 200)}
    from tuco_eval.store.watch_state import update_watch_state

    update_watch_state(root, str(train), lambda s: (s.evaluated.update(watched_before),
                                                    s.seen.extend([*watched_before, "checkpoint-300"])))
    unit = root / "step-300" / "samples" / "alpha=1.1" / "ta.jsonl"
    unit.unlink()  # half-swept: the report would refuse the ROOT
    train.mkdir()
    monkeypatch.setattr(loop, "sweep_checkpoints", lambda *a, **k: pytest.fail("nothing to evaluate"))
    lines, clock = [], _Clock()
    watcher = Watcher(WatchPlan(train_dir=train, root=root, report_dir=tmp_path / "report", tasks=["ta"],
                                model_args="base=org/pt", settings=EvalSettings(task_manager=None), once=True),
                      say=lines.append, clock=clock, sleep=clock.sleep)
    state = watcher.run()
    assert state.missed == ["checkpoint-300"] and state.status == "stopped"
    assert [e["label"] for e in json.loads((root / "checkpoints.json").read_text())["checkpoints"]] == [
        "step-100", "step-200"]
    assert (root / ".incomplete" / "step-300" / "run.json").is_file() and not (root / "step-300").exists()
    rows, _ = _board(tmp_path / "report")
    assert [r["label"] for r in rows] == ["base", "step-100", "step-200"]
    page = (tmp_path / "report" / "index.html").read_text()
    assert "not evaluated: deleted by the trainer before it could be" in page


# W&B / Trackio: each checkpoint's figures at its step, read off leaderboard.json


@pytest.fixture(scope="module")
def series_board(tmp_path_factory):
    from tests.helpers.checkpoint_roots import build_root
    from tuco_eval.analysis.checkpoint_board import read_board

    folder = tmp_path_factory.mktemp("board")
    report([build_root(folder / "root")], folder / "report", say=lambda _: None)
    return read_board(folder / "report" / "leaderboard.json")


def test_checkpoint_metrics_are_the_hand_counted_figures(series_board):
    from tuco_eval.watch.trackers import checkpoint_metrics

    metrics = checkpoint_metrics(series_board, "step-200")
    # checkpoint_roots: step-200 gets 20 of ta's 40 docs right at α = 1, the base 8; TuCo 0.20 + 0.001 × doc
    assert metrics["ta/acc"] == pytest.approx(20 / 40)
    assert metrics["ta/tuco"] == pytest.approx(0.20 + 0.001 * 19.5)
    assert metrics["ta/vs_base"] == pytest.approx((20 - 8) / 40)
    assert metrics["grp_ab/acc"] == pytest.approx((20 / 40 + 18 / 40) / 2)
    assert metrics["ta/alpha"] == 1.1 and 0 <= metrics["ta/vs_base_p_adjusted"] < 0.05


class _FakeTracker:
    def __init__(self, fail_at=None):
        self.calls, self.fail_at = [], fail_at

    def init(self, **kwargs):
        self.calls.append(("init", kwargs))

    def log(self, values, step):
        if step == self.fail_at:
            raise ConnectionError("offline")
        self.calls.append(("log", step, values))

    def finish(self):
        self.calls.append(("finish",))


def test_a_tracker_logs_each_checkpoint_once_in_step_order(series_board, monkeypatch):
    from tuco_eval.watch.trackers import Tracker, checkpoint_metrics

    fake = _FakeTracker(fail_at=300)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    lines = []
    tracker = Tracker("wandb", {"name": "sft"}, say=lines.append)
    tracker.log(series_board)
    assert fake.calls[0] == ("init", {"project": "tuco-eval", "name": "sft"})
    assert [c[1] for c in fake.calls[1:]] == [100, 200]  # the base has no step; 300 failed
    assert fake.calls[2][2] == checkpoint_metrics(series_board, "step-200")
    assert lines == ["wandb: could not log step-300 (ConnectionError: offline)"]
    fake.fail_at = None
    tracker.log(series_board)  # the next checkpoint's report: only what is new goes out
    assert [c[1] for c in fake.calls[1:]] == [100, 200, 300]


def test_tracker_flags_parse_like_lm_eval_and_a_missing_package_is_one_line(tmp_path, run_cli, monkeypatch):
    from tuco_eval.util.params import parse_key_values

    assert parse_key_values(["project=p", "name=n,group=g"], "--wandb_args") == {
        "project": "p", "name": "n", "group": "g"}
    monkeypatch.setitem(sys.modules, "trackio", None)  # not installed
    (tmp_path / "train").mkdir()
    code, _, err = run_cli(["watch", tmp_path / "train", "--model_args", "base=b", "--tasks", "tiny_mc",
                            "--include_path", FIXTURE_TASKS, "--output_path", tmp_path / "root",
                            "--trackio_args", "project=p"])
    assert code == 2 and "--trackio_args needs trackio: pip install trackio" in err

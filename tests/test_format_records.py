"""cv.json and leaderboard.json through their records (tuco_eval.records): what the code writes
reads back into an equal record and serialises to the very same bytes; another format is refused
(cv.json: recomputed from the store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuco_eval.analysis.checkpoint_board import read_board
from tuco_eval.analysis.leaderboard import load_cv
from tuco_eval.analysis.run_cv import CV_FILE, cross_validate, read_cv
from tuco_eval.pipeline.report import report
from tuco_eval.records.board_json import Board
from tuco_eval.records.cv_json import CVResult, OldFormat
from tuco_eval.stats.significance import corrected_cv
from tuco_eval.store import run_json
from tuco_eval.store import units as store

ALPHAS = (0.9, 1.0, 1.1)
N_DOCS = 40


def _run(run_dir: Path, label: str, shift: int) -> Path:
    """Two tasks of one group (weighted by size, as lm-eval's), scores that move with α."""
    for task, base in (("t_a", 20), ("t_b", 24)):
        for alpha in ALPHAS:
            k = base + (shift if alpha > 1 else 0)
            docs = [{"doc_id": i, "doc_hash": f"{task}-{i}", "acc": float(i < k)} for i in range(N_DOCS)]
            store.write_unit(run_dir, alpha, task, docs)
    run_json.update_run_info(run_dir, {
        "model_args": f"pretrained=org/{label}", "label": label, "alphas": list(ALPHAS),
        "tasks": ["t_a", "t_b"], "groups": {"grp": ["t_a", "t_b"]},
        "group_aggregation": {"grp": [{"metric": "acc", "filter_list": None, "weight_by_size": True}]},
    })
    return run_dir


def _dumped(obj: dict) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()  # how util.files.atomic_write_json writes


def test_cv_json_reads_back_to_the_same_record_and_bytes(tmp_path):
    run_dir = _run(tmp_path / "a", "a", 8)
    result = cross_validate(run_dir, folds=2, n_boot=200)
    written = (run_dir / CV_FILE).read_bytes()
    back = read_cv(run_dir / CV_FILE)
    assert back == result
    assert _dumped(back.to_json()) == written
    assert list(json.loads(written)["tasks"]["t_a"])[-5:] == ["cluster_key", "filter", "metric", "task", "key"]
    group = back.groups["grp"]
    assert group.tasks == ["t_a", "t_b"] and group.inference is not None
    assert group.weighted_by_size is not None and group.weighted_by_size.n_docs == 2 * N_DOCS


def test_the_report_correction_travels_in_the_record_and_reads_back(tmp_path):
    result = cross_validate(_run(tmp_path / "a", "a", 8), folds=2, n_boot=200)
    corrected = corrected_cv([result], "holm")[0]
    row = corrected.tasks["t_a"]
    assert result.tasks["t_a"].correction is None and row.correction is not None
    assert corrected.config.correction == "holm"
    obj = corrected.to_json()
    assert list(obj["tasks"]["t_a"])[-3:] == ["p_adjusted", "raw_level", "mde"]
    assert CVResult.from_json(obj) == corrected
    assert "correction" not in result.to_json()["config"]  # cv.json itself never carries it


def test_another_cv_json_format_is_recomputed_from_the_store(tmp_path):
    run_dir = _run(tmp_path / "a", "a", 8)
    first = cross_validate(run_dir, folds=2, n_boot=200)
    old = json.loads((run_dir / CV_FILE).read_text())
    old["config"]["format"] = 3
    (run_dir / CV_FILE).write_text(json.dumps(old))
    with pytest.raises(OldFormat):
        read_cv(run_dir / CV_FILE)
    again = load_cv(run_dir)  # same settings, format 4 again
    assert again == first and json.loads((run_dir / CV_FILE).read_text())["config"]["format"] == 4


def test_leaderboard_json_reads_back_to_the_same_record_and_bytes(tmp_path):
    runs = [_run(tmp_path / label, label, shift) for label, shift in (("a", 8), ("b", -4))]
    for run_dir in runs:
        cross_validate(run_dir, folds=2, n_boot=200)
    out = tmp_path / "report"
    report(runs, out, say=lambda _: None)
    written = (out / "leaderboard.json").read_bytes()
    board = read_board(out / "leaderboard.json")
    assert _dumped(board.to_json()) == written
    assert Board.from_json(json.loads(written)) == board
    assert [r.label for r in board.rows] == ["a", "b"] and board.pairs
    levels = [p.level for p in board.pairs]
    assert all(p.p_adjusted is not None and p.m_report == levels.count(p.level) for p in board.pairs)
    assert "null_spread" not in json.loads(written)["pairs"][0]


def test_another_leaderboard_format_is_refused_in_one_line():
    with pytest.raises(OldFormat, match="format 1, this tuco-eval reads 2; run `tuco-eval report` again"):
        Board.from_json({"format": 1})

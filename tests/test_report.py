"""Reports and the `cv` / `report` subcommands, on fixture stores built from fixed numbers."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.report_runs import CORRECT, N_DOCS, build_run
from tuco_eval.analysis import leaderboard, run_cv
from tuco_eval.analysis.checkpoint_rows import resolve_rows
from tuco_eval.analysis.report_model import build_report
from tuco_eval.pipeline.report import report
from tuco_eval.records.report import Report
from tuco_eval.render import report_tables
from tuco_eval.store import run_json
from tuco_eval.store import units as store
from tuco_eval.util.errors import TucoError

REPO = Path(__file__).resolve().parents[1]
EXPECTED = Path(__file__).parent / "expected"


def report_model(run_dirs: list[Path]) -> Report:
    """The report model `report` draws for ``run_dirs`` (the stars after its correction)."""
    return build_report(resolve_rows(run_dirs, say=lambda _: None), say=lambda _: None)


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    return [build_run(tmp_path / label, label) for label in CORRECT]


def test_fixture_has_the_intended_answers(runs):
    a = run_cv.cross_validate(runs[0]).tasks
    assert a["h1"].delta_cv == pytest.approx(0.20) and a["h1"].significant
    assert a["h2"].delta_cv == 0.0 and not a["h2"].significant
    assert a["x1"].alphas_chosen == [1.0] * 5


def test_markdown_leaderboard_matches_expected_file(runs, tmp_path):
    (tmp_path / "out").mkdir()
    # as `report` writes them: the stars after the correction across both runs' tasks (plots below)
    report_tables.write_tables(report_model(runs), tmp_path / "out")
    # checked by hand against CORRECT: e.g. ckpt-B humanities = mean(h1 +5, h2 +30) = +17.50, h2 alone
    # significant (p 1e-4 of 8 tasks: BH-adjusted 4e-4), the group's own test too (*)
    golden = EXPECTED / "report_leaderboard.md"
    assert golden.is_file(), f"{golden} is missing: restore it from git"
    assert (tmp_path / "out" / "leaderboard.md").read_text() == golden.read_text()


def test_report_writes_tables_and_plots(runs, tmp_path):
    files = report(runs, tmp_path / "out")
    names = {f.name for f in files}
    for stem in (
        "accuracy_vs_alpha_groups",
        "accuracy_vs_alpha_tuco_mmlu_humanities",
        "heatmap_ckpt-A",
        "heatmap_ckpt-B",
    ):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
    assert {
        "leaderboard.tex",
        "leaderboard.csv",
        "tasks.md",
        "tasks.csv",
        "tasks.tex",
        "comparison.md",
        "flips.csv",
        "index.html",
    } <= names
    assert all(f.stat().st_size > 0 for f in files)
    assert (tmp_path / "out" / "heatmap_ckpt-A.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tex = (tmp_path / "out" / "leaderboard.tex").read_text()
    assert r"\toprule" in tex and "Humanities & STEM & tuco\\_extra" in tex
    rows = list(csv.DictReader((tmp_path / "out" / "leaderboard.csv").open()))
    assert rows[0]["tuco_mmlu_humanities:delta_cv_points"] == "10.0000"
    tasks = list(csv.DictReader((tmp_path / "out" / "tasks.csv").open()))
    assert len(tasks) == 8 and tasks[0]["alphas_chosen"] == "1.1 1.1 1.1 1.1 1.1"


def test_runs_without_groups_get_a_column_per_task(tmp_path):
    run = build_run(tmp_path / "A", "ckpt-A", groups=None)
    headers, rows = report_tables.leaderboard(report_model([run]))
    assert headers == ["Checkpoint", "h1", "h2", "s1", "x1"]
    assert rows == [["ckpt-A", "+20.00* (100%)", "+0.00 (0%)", "+5.00 (0%)", "+0.00 (0%)"]]
    files = report([run], tmp_path / "out")
    assert (tmp_path / "out" / "accuracy_vs_alpha_tasks.png") in files


def test_report_reuses_fresh_cv_json_and_redoes_stale_one(runs):
    run_cv.cross_validate(runs[0], folds=4, seed=3)
    assert leaderboard.load_cv(runs[0]).config.folds == 4  # fresh: kept as is
    store.write_unit(
        runs[0],
        1.0,
        "x1",
        [{"doc_id": i, "doc_hash": f"x1-{i}", "acc": 1.0} for i in range(N_DOCS)],
    )
    again = leaderboard.load_cv(runs[0])  # the store changed: recomputed with the same settings
    assert again.config.folds == 4 and again.config.seed == 3
    assert again.tasks["x1"].acc_alpha1 == 1.0


def test_report_refuses_mixed_metrics(runs):
    run_cv.cross_validate(runs[1], metric="acc", objective="min")
    with pytest.raises(TucoError, match="different objectives"):
        leaderboard.load_runs(runs)


def test_duplicate_labels_are_told_apart(tmp_path):
    one = build_run(tmp_path / "x", "ckpt-A")
    two = build_run(tmp_path / "y", "ckpt-A")
    assert [r.label for r in leaderboard.load_runs([one, two])] == ["ckpt-A", "ckpt-A [y]"]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "tuco_eval", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def test_cli_cv_prints_table_and_writes_cv_json(runs):
    done = cli("cv", str(runs[0]), "--folds", "4", "--seed", "1")
    assert done.returncode == 0, done.stderr
    assert "|h1" in done.stdout and "|tuco_mmlu_stem" in done.stdout
    assert json.loads((runs[0] / "cv.json").read_text())["config"]["folds"] == 4


def test_cli_report(runs, tmp_path):
    done = cli("report", *map(str, runs), "--output", str(tmp_path / "rep"))
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "rep" / "leaderboard.md") in done.stdout.splitlines()


def test_cli_missing_run_dir_is_one_line_exit_2(tmp_path, run_cli):
    done = cli("cv", str(tmp_path / "nope"))  # one real process; the same for report in process
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "does not exist" in done.stderr
    code, _, err = run_cli(["report", tmp_path / "nope", "--output", tmp_path])
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "does not exist" in err


def test_cli_help_states_defaults(run_cli):
    code, stdout, _ = run_cli(["cv", "--help"])
    assert code == 0
    for default in ("(default: 5)", "(default: max)", "(default: 0)",
                    "(default: each task's primary metric"):
        assert default in " ".join(stdout.split())


def _one_task_run(run_dir: Path, n_docs: int, groups: dict) -> Path:
    """Task t at α 0.9 and 1 with alternating scores, and run.json's ``groups``."""
    for alpha in (0.9, 1.0):
        store.write_unit(run_dir, alpha, "t", [{"doc_id": i, "doc_hash": f"t-{i}", "acc": float(i % 2)}
                                               for i in range(n_docs)])
    run_json.update_run_info(run_dir, {"model_args": "pretrained=org/ft", "label": "ft", "alphas": [0.9, 1.0],
                                       "tasks": ["t"], "groups": groups})
    return run_dir


def test_a_run_too_small_for_five_folds_says_to_run_cv_first(tmp_path, run_cli):
    run_dir = _one_task_run(tmp_path / "tiny", n_docs=4, groups={})
    code, _, err = run_cli(["report", run_dir, "--output", tmp_path / "out"])
    assert code == 2 and err.count("\n") == 1, err
    assert f"4 docs cannot be split into 5 folds; use fewer folds (`tuco-eval cv {run_dir} --folds 2` first" in err
    assert run_cli(["cv", run_dir, "--folds", "2"])[0] == 0
    assert run_cli(["report", run_dir, "--output", tmp_path / "out"])[0] == 0  # the report reads that cv.json


def test_another_cv_error_is_not_given_the_folds_hint(tmp_path, run_cli):
    run_dir = _one_task_run(tmp_path / "grouped", n_docs=10, groups={"g": ["t", "missing"]})
    code, _, err = run_cli(["report", run_dir, "--output", tmp_path / "out"])
    assert code == 2 and "members without results" in err and "--folds" not in err, err

"""`report` over ROOTs of checkpoints (and plain RUN_DIRs): the rows and their order,
leaderboard.json and pairs.csv against hand counts, refusals, unique file names, the page."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.helpers.checkpoint_roots import RIGHT, STEPS, TUCO, N, build_root, right_at, write_run
from tests.helpers.report_runs import build_run
from tuco_eval.analysis.checkpoint_board import mean_stderr
from tuco_eval.analysis.checkpoint_rows import resolve_rows
from tuco_eval.pipeline.report import report
from tuco_eval.stats import paired
from tuco_eval.stats.cv import most_chosen
from tuco_eval.util.checkpoint_labels import first_step as parse_step
from tuco_eval.util.errors import TucoError

REPO = Path(__file__).resolve().parents[1]
LABELS = ["base", "step-100", "step-200", "step-300"]


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ckpt")
    root = build_root(tmp / "root")
    files = report([root], tmp / "out", pairs=("all",))
    return root, tmp / "out", files


def _board(out: Path) -> dict:
    return json.loads((out / "leaderboard.json").read_text())


def test_parse_step():
    assert parse_step("checkpoint-1200") == 1200
    assert parse_step("runs/sft/checkpoint-1200") == 1200
    assert parse_step("step1200", "x") == 1200 and parse_step("global_step_300") == 300
    assert parse_step("EleutherAI/pythia-160m@step1000") == 1000  # a Hub revision
    assert parse_step("model-v1.5", "org/model-v1.5") is None
    assert parse_step("checkpoint-12/extra") is None  # only the last part of a path names it
    assert parse_step("mystep-5") is None and parse_step(None, "a/step-7") == 7


def test_standard_errors_are_lm_evals():
    metrics = pytest.importorskip("lm_eval.api.metrics")
    scores = np.random.default_rng(6).random(37).round(2)
    assert mean_stderr(scores) == pytest.approx(metrics.mean_stderr(scores.tolist()), rel=1e-12)
    assert mean_stderr(np.array([1.0])) is None  # one doc: no sample std
    errors = [0.01, 0.03, 0.02]
    group = np.sqrt(sum(e * e for e in errors)) / 3
    assert group == pytest.approx(metrics.unweighted_mean_stderr(errors), rel=1e-12)


def test_most_chosen_alpha():  # the group interval: test_intervals.py
    assert most_chosen([1.1, 0.9, 0.9]) == 0.9
    assert most_chosen([1.1, 1.1, 1.0, 1.0, 0.75]) == 1.0  # a tie goes to the α closest to 1
    assert most_chosen([1.1, 1.1, 0.9, 0.9, 1.0]) == 0.9  # equally close: the smaller


def test_rows_base_first_then_training_order(reported):
    root, out, _ = reported
    rows = _board(out)["rows"]
    assert [r["label"] for r in rows] == LABELS
    assert [r["kind"] for r in rows] == ["base"] + ["checkpoint"] * 3
    assert [r["step"] for r in rows] == [None, 100, 200, 300]
    assert rows[1]["source"] == "runs/sft/checkpoint-100" and rows[0]["source"] == "org/pt"


def test_scores_stderr_and_tuco_by_hand(reported):
    _, out, _ = reported
    rows = {r["label"]: r for r in _board(out)["rows"]}
    for label, right in RIGHT.items():
        ta = rows[label]["tasks"]["ta"]
        p = right / N
        assert ta["n"] == N and ta["score"] == pytest.approx(p)
        assert ta["stderr"] == pytest.approx(np.sqrt(p * (1 - p) * N / (N - 1)) / np.sqrt(N))
        tb = rows[label]["tasks"]["tb"]["score"]
        group = rows[label]["groups"]["grp_ab"]
        assert group["score"] == pytest.approx((p + tb) / 2) and group["n"] == 2 * N
        se = [rows[label]["tasks"][t]["stderr"] for t in ("ta", "tb")]
        assert group["stderr"] == pytest.approx(np.hypot(*se) / 2)
    for label, tuco in TUCO.items():  # mean of tuco + 0.001 × doc_id over docs 0..39
        assert rows[label]["tasks"]["ta"]["tuco"] == pytest.approx(tuco + 0.001 * (N - 1) / 2)
        assert rows[label]["groups"]["grp_ab"]["tuco"] == pytest.approx(tuco + 0.0195)
    base = rows["base"]["tasks"]["ta"]
    assert [base[k] for k in ("tuco", "delta_cv", "ci", "alpha_chosen")] == [None] * 4


def test_cv_fields_come_from_cv_json(reported):
    root, out, _ = reported
    rows = {r["label"]: r for r in _board(out)["rows"]}
    for label in STEPS:
        cv = json.loads((root / label / "cv.json").read_text())
        ta = rows[label]["tasks"]["ta"]
        assert ta["score"] == pytest.approx(cv["tasks"]["ta"]["acc_alpha1"])
        assert ta["delta_cv"] == cv["tasks"]["ta"]["delta_cv"] == pytest.approx(3 / N)
        assert ta["ci"] == cv["tasks"]["ta"]["ci95"] and ta["alpha_chosen"] == 1.1
        group = rows[label]["groups"]["grp_ab"]
        assert group["delta_cv"] == cv["groups"]["grp_ab"]["delta_cv"]
        assert group["score_cv"] == cv["groups"]["grp_ab"]["acc_cv"]


def test_group_interval_is_the_pages(reported):
    from tuco_eval.analysis.leaderboard import load_runs

    root, out, _ = reported
    rows = {r["label"]: r for r in _board(out)["rows"]}
    run = load_runs([root / "step-200"])[0]
    low, high = run.columns["grp_ab"].ci95
    assert rows["step-200"]["groups"]["grp_ab"]["ci"] == [low, high]  # one computation for both


def test_pairs_by_hand(reported):
    _, out, _ = reported
    pairs = _board(out)["pairs"]
    ta = [p for p in pairs if p["task"] == "ta"]
    assert [(p["a"], p["b"]) for p in ta] == [
        (a, b) for i, a in enumerate(LABELS) for b in LABELS[i + 1 :]
    ]
    # docs 0..k-1 right: row b gets every doc row a gets and RIGHT[b] - RIGHT[a] more
    for p in ta:
        gained = RIGHT[p["b"]] - RIGHT[p["a"]]
        assert p["test"] == "mcnemar" and p["n"] == N and p["level"] == "task"
        assert p["diff"] == pytest.approx(gained / N)
        assert p["p"] == stats.binomtest(gained, gained, 0.5).pvalue
    # Holm over the six pairs of ta, by hand: sort, multiply by 6, 5, ..., 1, running max
    p = np.array([x["p"] for x in ta])
    order = np.argsort(p)
    running = np.maximum.accumulate(np.minimum(1, p[order] * np.arange(6, 0, -1)))
    expected = np.empty(6)
    expected[order] = running
    np.testing.assert_allclose([x["p_holm"] for x in ta], expected)
    first = next(x for x in ta if (x["a"], x["b"]) == ("base", "step-100"))
    assert first["p"] == 0.5 and not first["significant"]  # 2 docs apart
    tc = [x for x in pairs if x["task"] == "tc"]
    assert {x["test"] for x in tc} == {"sign-flip"}  # graded scores
    groups = [x for x in pairs if x["level"] == "group"]
    assert {x["task"] for x in groups} == {"grp_ab", "grp_c"} and len(groups) == 12
    step = next(x for x in groups if x["task"] == "grp_ab" and x["a"] == "step-100" and x["b"] == "step-200")
    assert step["diff"] == pytest.approx((10 / N + 10 / N) / 2) and step["n"] == 2 * N


def test_pairs_csv_is_the_json(reported):
    _, out, _ = reported
    pairs = _board(out)["pairs"]
    lines = list(csv.DictReader((out / "pairs.csv").open()))
    assert len(lines) == len(pairs) == 6 * 5  # 6 pairs × (3 tasks + 2 groups)
    for line, pair in zip(lines, pairs, strict=True):
        assert (line["a"], line["b"], line["task"], line["test"]) == (pair["a"], pair["b"], pair["task"], pair["test"])
        assert float(line["p_holm"]) == pair["p_holm"] and float(line["ci_low"]) == pair["ci"][0]
        assert line["significant"] == str(pair["significant"]).lower()


def test_series_figure_only_with_steps(reported, tmp_path):
    _, out, files = reported
    assert {f.name for f in files} >= {"checkpoint_series.png", "checkpoint_series.svg", "pairs.csv", "leaderboard.json"}
    assert (out / "checkpoint_series.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = [build_run(tmp_path / label, label) for label in ("ckpt-A", "ckpt-B")]  # no steps
    names = {f.name for f in report(runs, tmp_path / "rep")}
    assert "checkpoint_series.svg" not in names and "leaderboard.json" in names


def test_order_without_steps_follows_checkpoints_json_else_labels(tmp_path):
    root = build_root(tmp_path / "root", base=False)
    series = json.loads((root / "checkpoints.json").read_text())
    for record in series["checkpoints"]:  # names that carry no step
        record["label"] = {"step-100": "zeta", "step-200": "alpha", "step-300": "mid"}[record["label"]]
        record["step"], record["source"] = None, f"runs/{record['label']}"
    series["checkpoints"].reverse()
    (root / "checkpoints.json").write_text(json.dumps(series))
    assert [e.label for e in resolve_rows([root])] == ["mid", "alpha", "zeta"]  # as listed
    plain = [build_run(tmp_path / label, label) for label in ("ckpt-B", "ckpt-A")]
    assert [e.label for e in resolve_rows(plain)] == ["ckpt-A", "ckpt-B"]  # by label
    mixed = resolve_rows([*plain, root])  # not all from one checkpoints.json: by label
    assert [e.label for e in mixed] == ["alpha", "ckpt-A", "ckpt-B", "mid", "zeta"]


def test_folder_of_old_run_dirs_and_steps_from_names(tmp_path):
    # older sweeps side by side: no checkpoints.json, no "checkpoint" in run.json
    for step in (30, 4):
        write_run(tmp_path / "runs" / f"r{step}", "step-100",
                  {"model_args": f"pretrained=out/checkpoint-{step}", "label": f"checkpoint-{step}"})
    (tmp_path / "runs" / "notes").mkdir()  # not a RUN_DIR: skipped
    rows = resolve_rows([tmp_path / "runs"])
    assert [(e.label, e.step, e.source, e.kind) for e in rows] == [
        ("checkpoint-4", 4, "out/checkpoint-4", "checkpoint"),
        ("checkpoint-30", 30, "out/checkpoint-30", "checkpoint"),
    ]


def test_a_base_with_other_docs_is_refused_in_one_line(tmp_path, run_cli):
    root = build_root(tmp_path / "root", base_docs=N - 5)  # the base swept with a smaller --limit
    with pytest.raises(TucoError, match=r"task ta: base and step-100 were scored on different documents \(e\.g\. doc_id 35, 5 in all\)"):
        report([root], tmp_path / "out")
    code, _, err = run_cli(["report", root, "--output", tmp_path / "out"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "ta" in err and "step-100" in err


def test_bad_roots_are_one_line_exit_2(tmp_path, run_cli):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["report", tmp_path / "empty", "--output", tmp_path / "out"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "neither a RUN_DIR" in err
    root = build_root(tmp_path / "root")
    shutil.rmtree(root / "step-200")
    code, _, err = run_cli(["report", root, "--output", tmp_path / "out"])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "'step-200'" in err and "has no results yet" in err
    code, _, err = run_cli(["report", root / "base", "--output", tmp_path / "out"])
    assert code == 2 and "only the base model" in err


def test_checkpoint_page_in_chromium(reported, page_for):
    _, out, _ = reported
    opened = page_for(out / "index.html")
    page = opened.page
    board = _board(out)
    rows = page.locator("#leaderboard tbody tr")
    assert rows.locator("td:first-child").all_inner_texts() == LABELS
    assert page.locator("#leaderboard tbody tr.base").count() == 1
    bands = page.locator("#leaderboard thead tr.band th").all_inner_texts()
    assert [b.strip() for b in bands if b.strip()] == ["grp_ab", "grp_c"]
    heads = page.locator("#leaderboard thead tr:last-child th")
    names = [h.replace("↕", "").strip() for h in heads.all_inner_texts()]
    assert names[:6] == ["Checkpoint", "step", "score", "Δ_CV", "α", "TuCo"]
    tuco = [t.strip() for t in rows.locator("td:nth-child(6)").all_inner_texts()]
    means = [f"{r['groups']['grp_ab']['tuco']:.3f}" for r in board["rows"][1:]]
    assert tuco == ["–", *means] and means[0] == "0.120"  # grp_ab's mean TuCo, none for the base
    heads.nth(2).click()  # grp_ab score, ascending: base 17.5, then by training step here
    assert rows.locator("td:first-child").all_inner_texts() == LABELS
    heads.nth(2).click()
    assert rows.locator("td:first-child").all_inner_texts() == LABELS[::-1]
    heads.nth(1).click()  # step: the base's "–" stays last
    assert rows.locator("td:first-child").all_inner_texts() == [*LABELS[1:], "base"]

    # the pairs matrix (--pairs all): groups first, one visible at a time, significant cells marked
    select = page.locator("#pairs-select")
    options = select.locator("option").evaluate_all("els => els.map(e => e.value)")
    assert options == ["grp_ab", "grp_c", "ta", "tb", "tc"]
    assert page.locator(".pairs-view:visible").count() == 1
    select.select_option("ta")
    matrix = page.locator(".pairs-view[data-choice='ta']")
    assert matrix.is_visible() and page.locator(".pairs-view[data-choice='grp_ab']").is_hidden()
    cells = {}
    for r, row in enumerate(matrix.locator("tbody tr").all()):
        for c, cell in enumerate(row.locator("td").all()[1:]):
            cells[LABELS[r], LABELS[c]] = cell
    win = cells["step-300", "step-100"].locator("span")
    assert win.get_attribute("class") == "win" and win.inner_text() == f"+{100 * 25 / N:.2f}*"
    assert cells["step-100", "step-300"].locator("span").get_attribute("class") == "loss"
    even = cells["step-100", "base"].locator("span")  # 2 docs apart: p = 0.5
    assert even.get_attribute("class") == "even" and even.inner_text() == "+5.00"
    marked = matrix.locator("span.win").count() + matrix.locator("span.loss").count()
    significant = sum(p["significant"] for p in board["pairs"] if p["task"] == "ta")
    assert marked == 2 * significant > 0
    assert page.locator("#s-reading dt").count() >= 6  # how to read this page
    widths = page.locator("#s-series img").evaluate_all("els => els.map(e => e.complete && e.naturalWidth)")
    assert widths and all(w > 0 for w in widths)
    links = page.locator("#s-files a").all_inner_texts()
    assert "leaderboard.json" in links and "pairs.csv" in links


def test_a_training_series_gets_a_row_per_checkpoint_against_the_base_and_the_previous(tmp_path, page_for):
    # the default families of a series with its base (base, adjacent): one compact table, no square
    root = build_root(tmp_path / "root")
    report([root], tmp_path / "out")
    board = _board(tmp_path / "out")
    page = page_for(tmp_path / "out" / "index.html").page
    page.locator("#pairs-select").select_option("ta")
    view = page.locator(".pairs-view[data-choice='ta']")
    assert view.locator("table").count() == 1
    heads = [h.replace("↕", "").strip() for h in view.locator("thead th").all_inner_texts()]
    assert heads == ["checkpoint", "step", "vs base", "95% CI", "p adj.", "detectable",
                     "vs previous", "95% CI", "p adj.", "detectable"]
    lines = view.locator("tbody tr")
    assert lines.locator("td:first-child").all_inner_texts() == LABELS[1:]
    first = lines.nth(0).locator("td").nth(2).locator("span")  # step-100 vs base: 2 docs apart, p = 0.5
    assert first.get_attribute("class") == "even" and first.inner_text() == "+5.00"
    assert "n.s. (≥" in lines.nth(0).locator("td").nth(5).inner_text()  # what 80 % power needed
    marked = view.locator("span.win").count() + view.locator("span.loss").count()
    assert marked == sum(p["significant"] for p in board["pairs"] if p["task"] == "ta") > 0


_WITHOUT_TORCH = """
import sys

class Unimportable:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "lm_eval", "peft", "accelerate"):
            raise ImportError(f"{name} is not importable in this test")

sys.meta_path.insert(0, Unimportable())
from tuco_eval.cli import main
main(sys.argv[1:])
"""


def test_report_of_a_root_runs_without_torch(tmp_path):
    root = build_root(tmp_path / "root")
    args = ["report", str(root), "--output", str(tmp_path / "out")]
    done = subprocess.run([sys.executable, "-c", _WITHOUT_TORCH, *args], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(_board(tmp_path / "out")["pairs"]) == 30


def test_right_at_fixture_is_what_the_hand_counts_assume():
    # the α = 1.1 bonus makes CV pick 1.1 in every fold; α = 1 counts are RIGHT's
    assert right_at("step-100", "ta", 1.0) == 10 and right_at("step-100", "tb", 1.0) == 8
    assert paired.is_binary(np.array([0.0, 1.0])) and not paired.is_binary(np.array([0.5]))


def test_rows_with_and_without_groups_each_show_their_columns(tmp_path, monkeypatch):
    """One run with groups, one without (its tasks are its columns): no row's cells go blank, on
    the page's leaderboard nor in the series figure (the task columns were blank for every row)."""
    from tuco_eval.analysis.report_model import build_report
    from tuco_eval.render import plots
    from tuco_eval.render.html_report import leaderboard_section
    from tuco_eval.render.report import write_series

    grouped = write_run(tmp_path / "step-100", "step-100",
                        {"label": "step-100", "model_args": "pretrained=out/checkpoint-100"})
    plain = write_run(tmp_path / "step-200", "step-200",
                      {"label": "step-200", "model_args": "pretrained=out/checkpoint-200", "groups": {}})
    entries = resolve_rows([grouped, plain])
    model = build_report(entries, say=lambda _: None)
    section = leaderboard_section(model)
    headers, rows = section["table"].headers, section["table"].rows
    columns = [band for band, _ in section["table"].bands[1:]]
    assert columns == ["grp_ab", "grp_c", "ta", "tb", "tc"]
    score = {(row[0], name): getattr(row[2 + 4 * k], "text", row[2 + 4 * k])
             for row in rows for k, name in enumerate(columns)}
    # by hand: ta has 20 of 40 docs right at α = 1 for step-200; grp_ab = mean of ta (10/40), tb (8/40)
    assert score["step-200", "ta"].startswith("50.00") and score["step-100", "grp_ab"].startswith("22.50")
    # a task that another run makes a column shows each row's score of it (10/40 docs), and a
    # group each row holding its tasks (as the base row): ta 20/40, tb 18/40
    assert score["step-100", "ta"] == "25.00" and score["step-200", "grp_ab"] == "47.50"
    assert headers[:2] == ["Checkpoint", "step"] and section["what"].endswith("task for a run without groups")
    drawn = {}
    monkeypatch.setattr(plots, "checkpoint_series",
                        lambda series, title, metric, stem, *_: drawn.update({s.name: s for s in series}) or [])
    write_series(model, tmp_path)
    assert set(drawn) == {"grp_ab", "grp_c", "ta", "tb", "tc"}
    assert list(drawn["ta"].score) == [0.25, 0.5]
    assert list(drawn["grp_ab"].score) == [0.225, 0.475]

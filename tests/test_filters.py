"""Every lm-eval filter of a task gets its own row, and group figures say how they average.

The α = 1 numbers of the sweep are checked against lm-eval itself (`--model hf` on the
fine-tuned folder): per filter for a gsm8k-like task, and lm-eval's size-weighted group figure.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from lm_eval import simple_evaluate
from lm_eval.models.huggingface import HFLM

from tuco_eval.analysis import leaderboard, run_cv
from tuco_eval.analysis.checkpoint_rows import resolve_rows
from tuco_eval.analysis.report_model import build_report
from tuco_eval.cli import main
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.records.cv_json import CV_FORMAT, CVResult, TaskRow
from tuco_eval.records.report import Report, Run
from tuco_eval.render import cv_tables, report_tables
from tuco_eval.stats import cv, group_figures
from tuco_eval.stats.multiplicity import CORRECTIONS, DEFAULT_CORRECTION
from tuco_eval.store import run_json
from tuco_eval.store import units as store
from tuco_eval.store.run_json import read_run_info
from tuco_eval.store.sample_records import doc_record
from tuco_eval.store.task_rows import store_rows
from tuco_eval.store.units import read_unit
from tuco_eval.sweeps.alphas import sweep
from tuco_eval.sweeps.settings import EvalSettings
from tuco_eval.util.errors import TucoError

FILTERS = ["strict-match", "flexible-extract"]
TASKS = ["tiny_numbers", "tiny_weighted"]  # tiny_weighted: tiny_mc, tiny_mc_small (5 docs)
LIMIT = 8  # docs per task: tiny_mc gives 8, tiny_mc_small 5, so the group's sizes differ
DEFAULT = CORRECTIONS[DEFAULT_CORRECTION]  # the description `tuco-eval cv` prints by default


def report_model(run_dirs) -> Report:
    """The report model `report` draws for ``run_dirs``."""
    return build_report(resolve_rows(run_dirs, say=lambda _: None), say=lambda _: None)


def task_row(acc_alpha1: float, acc_cv: float, delta_cv: float, significant: bool, n: int,
             metric: str | None = None) -> TaskRow:
    """A cv.json task row with the figures group aggregation reads (the rest placeholders)."""
    return TaskRow(n=n, acc_alpha1=acc_alpha1, acc_cv=acc_cv, delta_cv=delta_cv,
                   alphas_chosen=[1.0] * 3, acc_by_alpha={}, ci95=[delta_cv, delta_cv],
                   p_value=1.0, significant=significant, metric=metric)


@pytest.fixture(scope="module")
def lm_eval_results(pair_dirs, task_manager):
    """What `lm_eval --model hf --model_args pretrained=<fine-tuned>` reports for the tasks."""
    plain = HFLM(pretrained=pair_dirs[0], device="cpu", batch_size=4)
    return simple_evaluate(
        model=plain, tasks=TASKS, task_manager=task_manager, bootstrap_iters=0, limit=LIMIT
    )["results"]


@pytest.fixture(scope="module")
def runs(pair_dirs, task_manager, tmp_path_factory):
    """A RUN_DIR per task (one metric each: exact_match, acc), swept at α = 1 only."""
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4)
    root = tmp_path_factory.mktemp("filters")
    for task in TASKS:
        sweep(lm, [task], root / task, alphas=[1.0], settings=EvalSettings(task_manager, limit=LIMIT),
              model_args="m", progress=False)
    return {task: root / task for task in TASKS}


def test_each_filter_is_stored_and_equals_lm_eval_at_alpha_1(runs, lm_eval_results):
    run = runs["tiny_numbers"]
    info = read_run_info(run)
    assert info.filters == {"tiny_numbers": FILTERS}
    assert read_run_info(runs["tiny_weighted"]).filters["tiny_mc"] == ["none"]
    records = read_unit(run, 1.0, "tiny_numbers")
    assert len(records) == LIMIT and "exact_match" not in records[0]
    stored = {f: sum(r[f"exact_match,{f}"] for r in records) / LIMIT for f in FILTERS}
    expected = {f: lm_eval_results["tiny_numbers"][f"exact_match,{f}"] for f in FILTERS}
    assert stored == pytest.approx(expected, abs=1e-12)
    assert stored["strict-match"] != stored["flexible-extract"]  # the test tells them apart
    result = run_cv.cross_validate(run, folds=3, metric="exact_match")
    rows = {f: result.tasks[f"tiny_numbers,{f}"] for f in FILTERS}
    assert {f: r.acc_alpha1 for f, r in rows.items()} == pytest.approx(expected, abs=1e-12)
    assert {r.filter for r in rows.values()} == set(FILTERS)


def test_cv_filter_picks_one_and_the_cli_prints_the_row_names(runs, capsys):
    run = runs["tiny_numbers"]
    picked = run_cv.cross_validate(run, folds=3, metric="exact_match", filter="flexible-extract")
    assert list(picked.tasks) == ["tiny_numbers,flexible-extract"]
    assert picked.config.filter == "flexible-extract"
    with pytest.raises(TucoError, match="no task in this RUN_DIR has the filter 'strict'"):
        run_cv.cross_validate(run, folds=3, metric="exact_match", filter="strict")
    assert main(["cv", str(run), "--folds", "3", "--metric", "exact_match"]) == 0
    out = capsys.readouterr().out
    assert "|tiny_numbers,strict-match" in out and "|tiny_numbers,flexible-extract" in out
    assert main(["cv", str(run), "--folds", "3", "--metric", "exact_match",
                 "--filter", "strict-match"]) == 0
    out = capsys.readouterr().out
    assert "|tiny_numbers,strict-match" in out and "flexible-extract" not in out


def test_group_figures_at_alpha_1_mean_over_tasks_and_weighted_as_lm_eval(runs, lm_eval_results,
                                                                          tmp_path):
    run = runs["tiny_weighted"]
    result = run_cv.cross_validate(run, folds=3)
    group = result.groups["tiny_weighted"]
    tasks = {t: lm_eval_results[t]["acc,none"] for t in ("tiny_mc", "tiny_mc_small")}
    assert group.tasks == ["tiny_mc", "tiny_mc_small"]
    assert group.acc_alpha1 == pytest.approx(sum(tasks.values()) / 2, abs=1e-12)
    weighted = group.weighted_by_size
    assert weighted.acc_alpha1 == pytest.approx(
        lm_eval_results["tiny_weighted"]["acc,none"], abs=1e-12
    )
    assert weighted.n_docs == LIMIT + 5
    assert weighted.acc_alpha1 != pytest.approx(group.acc_alpha1)  # the sizes differ
    table = cv_tables.format_table(result, DEFAULT)
    assert "|tiny_weighted|mean over tasks" in table
    assert f"|tiny_weighted|{cv_tables.WEIGHTED_LABEL}" in table
    assert f"{100 * weighted.acc_alpha1:.2f}" in table
    # report's tables carry the labels too
    (tmp_path / "out").mkdir()
    report_tables.write_tables(report_model([run]), tmp_path / "out")
    tasks_md = (tmp_path / "out" / "tasks.md").read_text()
    assert cv_tables.WEIGHTED_LABEL in tasks_md and cv_tables.MEAN_LABEL in tasks_md
    assert cv_tables.WEIGHTED_LABEL in (tmp_path / "out" / "leaderboard.md").read_text()


def test_doc_record_keeps_each_filter_under_lm_eval_names():
    samples = [
        {"doc_id": 0, "doc_hash": "h", "filter": f, "metrics": ["exact_match"], "exact_match": v,
         "resps": [["#### 4"]]}
        for f, v in (("strict-match", 1.0), ("flexible-extract", 0.0))
    ]
    assert doc_record(samples) == {
        "doc_id": 0, "doc_hash": "h", "responses": ["#### 4"],
        "exact_match,strict-match": 1.0, "exact_match,flexible-extract": 0.0,
    }
    assert doc_record(samples[:1])["exact_match"] == 1.0  # one filter: plain names, as before


def _old_store(run_dir, filter_list):
    """A store as the sweep wrote it before filters: plain fields, no 'filters' in run.json."""
    for alpha in (1.0, 1.5):
        store.write_unit(run_dir, alpha, "gsm", [
            {"doc_id": i, "doc_hash": f"d{i}", "exact_match": float(i < 3)} for i in range(6)
        ])
    config = {"task": "gsm", "filter_list": [{"name": n, "filter": []} for n in filter_list]}
    run_json.update_run_info(run_dir, {"model_args": "m", "alphas": [1.0, 1.5], "tasks": ["gsm"],
                                    "groups": {}, "task_configs": {"gsm": config}})
    assert json.loads((run_dir / "run.json").read_text())["filters"] == {}


def test_old_stores_still_load(tmp_path):
    _old_store(tmp_path / "two", FILTERS)  # the old sweep kept the first filter's records
    result = run_cv.cross_validate(tmp_path / "two", folds=3, metric="exact_match")
    assert list(result.tasks) == ["gsm,strict-match"]
    assert result.tasks["gsm,strict-match"].acc_alpha1 == 0.5
    with pytest.raises(TucoError, match="task gsm holds only its filter 'strict-match'"):
        run_cv.cross_validate(tmp_path / "two", folds=3, metric="exact_match", filter="flexible-extract")
    _old_store(tmp_path / "one", [])
    assert list(run_cv.cross_validate(tmp_path / "one", folds=3, metric="exact_match").tasks) == ["gsm"]
    # an old cv.json (no format) is recomputed by report, with its settings
    old = tmp_path / "one" / "cv.json"
    data = json.loads(old.read_text())
    del data["config"]["format"], data["tasks"]["gsm"]["filter"]
    old.write_text(json.dumps(data))
    assert leaderboard.load_cv(tmp_path / "one").config.format == CV_FORMAT


def test_groups_of_tasks_with_several_filters_get_a_row_per_filter():
    def r(x, n):
        return task_row(acc_alpha1=x, acc_cv=x, delta_cv=0.0, significant=False, n=n)

    results = {"a,s": r(0.2, 10), "a,f": r(0.4, 10), "b,s": r(0.6, 30), "b,f": r(0.8, 30)}
    rows_of = {"a": [("a,s", "s"), ("a,f", "f")], "b": [("b,s", "s"), ("b,f", "f")]}
    groups = group_figures.aggregate_groups(results, {"g": ["a", "b"]}, rows_of, lambda g, f, m: f == "s")
    assert list(groups) == ["g,s", "g,f"]
    assert groups["g,s"].acc_alpha1 == pytest.approx(0.4)
    assert groups["g,s"].weighted_by_size.acc_alpha1 == pytest.approx((2 + 18) / 40)
    assert groups["g,f"].acc_alpha1 == pytest.approx(0.6)
    assert groups["g,f"].weighted_by_size is None


def test_store_rows_names():
    info = run_json.RunInfo.of(filters={"gsm": FILTERS, "mc": ["none"]})
    rows = store_rows(info, ["gsm", "mc"], "exact_match")
    assert [(r.name, r.key) for r in rows] == [
        ("gsm,strict-match", "exact_match,strict-match"),
        ("gsm,flexible-extract", "exact_match,flexible-extract"),
        ("mc", "exact_match"),
    ]
    message = r"task other has no filter 'strict-match' in this RUN_DIR \(it has a, b\)"
    with pytest.raises(TucoError, match=message):
        store_rows(run_json.RunInfo.of(filters={"gsm": FILTERS, "other": ["a", "b"]}), ["gsm", "other"], "x",
                   "strict-match")
    assert [r.name for r in store_rows(info, ["gsm", "mc"], "x", "strict-match")] == [
        "gsm,strict-match", "mc"  # a task with one filter is kept as it is
    ]
    merged = run_json.merge_run_info(info, {"filters": {"new": ["none"]}})
    assert merged.filters == {"gsm": FILTERS, "mc": ["none"], "new": ["none"]}


MIXED_ALPHAS = [1.0, 1.5]


@pytest.fixture(scope="module")
def mixed_run(pair_dirs, task_manager, tmp_path_factory):
    """One RUN_DIR with a generation task (exact_match, two filters) and a multiple-choice one
    (acc), swept together, and a group over both."""
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", batch_size=4)
    run = tmp_path_factory.mktemp("mixed") / "run"
    sweep(lm, ["tiny_numbers", "tiny_mc"], run, alphas=MIXED_ALPHAS,
          settings=EvalSettings(task_manager, limit=LIMIT), model_args="m", progress=False)
    run_json.update_run_info(run, {"model_args": "m", "groups": {"mix": ["tiny_numbers", "tiny_mc"]}})
    return run


def _alone(run, task, tmp_path):
    """The task's units copied into a RUN_DIR of its own (run.json restricted to it)."""
    info = read_run_info(run)
    alone = tmp_path / task
    for alpha in MIXED_ALPHAS:
        store.write_unit(alone, alpha, task, read_unit(run, alpha, task))
    run_json.update_run_info(alone, {"model_args": "m", "alphas": MIXED_ALPHAS, "tasks": [task],
                                  "groups": {}, "filters": {task: info.filters[task]},
                                  "task_configs": {task: info.task_configs[task]}})
    return alone


def test_mixed_metrics_cross_validate_in_one_call_each_with_its_own(mixed_run, tmp_path):
    result = run_cv.cross_validate(mixed_run, folds=3)
    rows = result.tasks
    assert list(rows) == ["tiny_mc", "tiny_numbers,strict-match", "tiny_numbers,flexible-extract"]
    assert rows["tiny_mc"].metric == "acc"
    assert {rows[f"tiny_numbers,{f}"].metric for f in FILTERS} == {"exact_match"}
    assert result.config.metric is None
    assert result.config.metrics == ["acc", "exact_match"]
    # each row equals cv of that task alone with the metric forced, and the raw records
    for task, metric in (("tiny_mc", "acc"), ("tiny_numbers", "exact_match")):
        alone = run_cv.cross_validate(_alone(mixed_run, task, tmp_path), folds=3, metric=metric)
        for name, row in alone.tasks.items():
            assert rows[name] == row
    for name, key in (("tiny_mc", "acc"),
                      ("tiny_numbers,flexible-extract", "exact_match,flexible-extract")):
        task = name.split(",")[0]
        scores = [[r[key] for r in sorted(read_unit(mixed_run, a, task), key=lambda r: r["doc_id"])]
                  for a in MIXED_ALPHAS]
        reference = cv.cross_validate_scores(scores, MIXED_ALPHAS, folds=3)
        assert rows[name].acc_by_alpha == reference["acc_by_alpha"]
        assert rows[name].delta_cv == reference["delta_cv"]
    assert rows["tiny_mc"].acc_alpha1 != rows["tiny_numbers,strict-match"].acc_alpha1
    flexible = rows["tiny_numbers,flexible-extract"]  # α matters for this row: the checks above bite
    assert flexible.acc_by_alpha["1.0"] != flexible.acc_by_alpha["1.5"]
    assert set(flexible.alphas_chosen) != {1.0}
    # the group averages one metric per row: here each filter has its own metric
    groups = result.groups
    assert list(groups) == ["mix,none [acc]", "mix,strict-match [exact_match]",
                            "mix,flexible-extract [exact_match]"]
    assert groups["mix,none [acc]"].tasks == ["tiny_mc"]
    assert groups["mix,none [acc]"].acc_cv == rows["tiny_mc"].acc_cv
    # the printed table names each row's metric
    table = cv_tables.format_table(result, DEFAULT)
    assert "each task's own metric (acc, exact_match" in table
    assert "|metric|" in table.replace(" ", "")
    assert "|tiny_mc|8|acc|" in table.replace(" ", "")
    assert "|tiny_numbers,strict-match|8|exact_match|" in table.replace(" ", "")


def test_forced_metric_names_the_task_lacking_it(mixed_run):
    with pytest.raises(TucoError, match=r"task tiny_numbers has no per-doc metric 'acc' "
                                        r"\(its metrics: exact_match\)"):
        run_cv.cross_validate(mixed_run, folds=3, metric="acc")
    with pytest.raises(TucoError, match=r"task tiny_mc has no per-doc metric 'exact_match' "
                                        r"\(its metrics: acc\)"):
        run_cv.cross_validate(mixed_run, folds=3, metric="exact_match", filter="strict-match")


def test_report_and_cli_of_mixed_metrics(mixed_run, tmp_path, capsys):
    assert main(["cv", str(mixed_run), "--folds", "3"]) == 0
    out = capsys.readouterr().out
    assert "|tiny_mc" in out and "exact_match" in out
    assert main(["cv", str(mixed_run), "--folds", "3", "--metric", "acc"]) == 2
    assert "tiny_numbers has no per-doc metric 'acc'" in capsys.readouterr().err
    report_tables.write_tables(report_model([mixed_run]), tmp_path)
    import csv

    rows = {r["task"]: r for r in csv.DictReader((tmp_path / "tasks.csv").open())}
    assert rows["tiny_mc"]["metric"] == "acc"
    assert rows["tiny_numbers,strict-match"]["metric"] == "exact_match"
    assert "|mix,none [acc]" in (tmp_path / "leaderboard.md").read_text()
    result = run_cv.cross_validate(mixed_run, folds=3)
    other = json.loads(json.dumps(result.to_json()))
    other["tasks"]["tiny_mc"]["metric"] = "acc_norm"  # as if cross-validated with another metric
    other = CVResult.from_json(other)
    with pytest.raises(TucoError, match="tiny_mc was cross-validated with acc in A but with "
                                        "acc_norm in B; rerun `tuco-eval cv` on them with one"):
        leaderboard.check_row_metrics([Run("A", mixed_run, result), Run("B", mixed_run, other)])


def test_groups_average_rows_of_one_metric_only():
    def r(x, metric):
        return task_row(acc_alpha1=x, acc_cv=x, delta_cv=0.0, significant=False, n=4, metric=metric)

    results = {"a": r(0.2, "acc"), "b": r(0.9, "exact_match"), "c": r(0.4, "acc")}
    groups = group_figures.aggregate_groups(results, {"g": ["a", "b", "c"]})
    assert list(groups) == ["g [acc]", "g [exact_match]"]
    assert groups["g [acc]"].acc_alpha1 == pytest.approx(0.3)
    assert groups["g [acc]"].metric == "acc" and groups["g [acc]"].tasks == ["a", "c"]
    assert groups["g [exact_match]"].acc_alpha1 == 0.9
    results["b"] = replace(results["b"], metric="acc")  # one metric: one row, named as before
    assert list(group_figures.aggregate_groups(results, {"g": ["a", "b", "c"]})) == ["g"]


def test_old_plain_records_mixed_with_per_filter_ones_are_named(tmp_path):
    run = tmp_path / "run"
    _old_store(run, FILTERS)  # alpha 1.0 and 1.5, plain exact_match
    # re-swept at a new alpha with today's sweep: per-filter fields, run.json gains 'filters'
    store.write_unit(run, 2.0, "gsm", [
        {"doc_id": i, "doc_hash": f"d{i}", "exact_match,strict-match": 1.0,
         "exact_match,flexible-extract": 0.0} for i in range(6)
    ])
    run_json.update_run_info(run, {"model_args": "m", "alphas": [2.0], "filters": {"gsm": FILTERS}})
    message = (r"task gsm mixes records swept before tuco-eval kept every filter \(alpha 1.0, 1.5: "
               r"only 'strict-match', under plain names\) with per-filter ones \(alpha 2.0\); "
               r"sweep it into a new RUN_DIR, or delete its units of alpha 1.0, 1.5")
    with pytest.raises(TucoError, match=message):
        run_cv.cross_validate(run, folds=3, metric="exact_match")
    with pytest.raises(TucoError, match=message):
        run_cv.cross_validate(run, folds=3)  # the default metric: the task config has no metric_list


def test_old_plain_records_under_new_filters_entry_still_load(tmp_path):
    run = tmp_path / "run"
    _old_store(run, FILTERS)
    # a later sweep at the same alphas redoes nothing but records the task's filters
    run_json.update_run_info(run, {"model_args": "m", "filters": {"gsm": FILTERS}})
    result = run_cv.cross_validate(run, folds=3, metric="exact_match")
    assert list(result.tasks) == ["gsm,strict-match"]
    assert result.tasks["gsm,strict-match"].acc_alpha1 == 0.5

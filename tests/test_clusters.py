"""Clustered documents (a task's metadata cluster_key, or --cluster-key): labels from the docs'
stored fields, cluster-robust standard errors, pair tests over clusters and the CV by cluster,
against hand computations and the unclustered figures they reduce to."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.helpers.lm_eval_files import PASSAGE, write_lm_eval_run
from tuco_eval.analysis.checkpoint_board import mean_stderr
from tuco_eval.analysis.run_cv import cross_validate
from tuco_eval.cli import main
from tuco_eval.stats import cv, paired, sign_flip
from tuco_eval.stats.cv_bootstrap import resample_counts
from tuco_eval.store import run_json
from tuco_eval.store import units as store
from tuco_eval.store.clusters import cluster_labels, scalar_fields, task_cluster_key
from tuco_eval.store.doc_texts import write_docs
from tuco_eval.util.params import PAPER_ALPHAS


def test_the_key_comes_from_the_command_line_else_the_tasks_metadata():
    config = {"metadata": {"cluster_key": "passage", "version": 1}}
    assert task_cluster_key(config) == "passage"
    assert task_cluster_key(config, "article") == "article"
    assert task_cluster_key({"metadata": {"version": 1}}) is None and task_cluster_key(None) is None


def test_labels_are_codes_of_the_field_and_a_missing_field_is_named():
    fields = {0: {"p": "a"}, 1: {"p": "b"}, 2: {"p": "a"}, 3: {"p": 7}}
    codes = cluster_labels(fields, [0, 1, 2, 3], "p", "t")
    assert codes[0] == codes[2] and len(set(codes.tolist())) == 3  # the same value, the same cluster
    with pytest.raises(store.StoreError, match=r"doc_id 0 has no field 'q' to cluster by \(its fields: p\)"):
        cluster_labels(fields, [0, 1], "q", "t")
    assert scalar_fields({"id": 3, "text": "x" * 500, "ok": True, "nested": {}}) == {"id": 3, "ok": True}


def test_clustered_stderr_by_hand_and_equal_to_lm_evals_with_one_doc_per_cluster():
    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    clusters = np.array([0, 0, 1, 1, 2, 2])
    sums = [(1 - 0.5) + (0 - 0.5), (1 - 0.5) + (1 - 0.5), (0 - 0.5) + (0 - 0.5)]  # 0, 1, −1
    assert mean_stderr(x, clusters) == pytest.approx(math.sqrt(3 / 2 * sum(s * s for s in sums)) / 6)
    assert mean_stderr(x, np.arange(6)) == pytest.approx(mean_stderr(x))


def test_pairs_over_clusters_test_the_clusters_sums():
    rng = np.random.default_rng(0)
    scores = (rng.random((2, 60)) < [[0.5], [0.6]]).astype(float)
    clusters = np.arange(60) // 3
    result = paired.task_pairs(scores, n_boot=300, clusters=clusters)
    sums = np.bincount(clusters, scores[1] - scores[0])
    assert result.test == paired.CLUSTER_SIGN_FLIP
    assert result.p[0] == pytest.approx(sign_flip.sign_flip_p(sums))
    # the bootstrap resamples whole clusters: the same draws by hand
    drawn = resample_counts(20, 300, np.random.default_rng([0, 1]))
    sizes = np.bincount(clusters).astype(float)
    naive = [(d @ np.bincount(clusters, scores[1]) - d @ np.bincount(clusters, scores[0])) / (d @ sizes)
             for d in drawn]
    assert (result.low[0], result.high[0]) == pytest.approx(tuple(np.quantile(naive, [0.025, 0.975])))
    # one doc per cluster: the test of the docs themselves (for 0/1 scores McNemar's exact p)
    singletons = paired.task_pairs(scores, n_boot=20, clusters=np.arange(60))
    assert singletons.p[0] == pytest.approx(paired.task_pairs(scores, n_boot=20).p[0], rel=1e-12)


def test_modes_compared_over_clusters_test_the_clusters_sums():
    from tuco_eval.analysis.mode_comparison import compare_pair

    rng = np.random.default_rng(2)
    first, second = rng.normal(0.1, 1.0, 45), rng.normal(0.0, 1.0, 45)
    clusters = np.arange(45) // 5
    found = compare_pair(first, second, seed=3, n_boot=300, clusters=clusters)
    sums, sizes = np.bincount(clusters, first - second), np.bincount(clusters).astype(float)
    assert found["diff"] == pytest.approx(float(np.mean(first - second)))
    assert found["p_value"] == pytest.approx(sign_flip.sign_flip_p(sums))
    drawn = resample_counts(9, 300, np.random.default_rng([3, 1]))
    naive = [(d @ sums) / (d @ sizes) for d in drawn]  # whole clusters resampled, by hand
    assert found["ci95"] == pytest.approx(list(np.quantile(naive, [0.025, 0.975])))


def _clustered_store(run_dir, n_docs=60, size=4, seed=0):
    rng = np.random.default_rng(seed)
    base = (rng.random(n_docs) < 0.5).astype(float)
    for alpha in PAPER_ALPHAS:
        acc = np.maximum(base, (rng.random(n_docs) < 0.3)) if alpha == 1.1 else base
        store.write_unit(run_dir, alpha, "t", [{"doc_id": i, "doc_hash": f"t{i}", "acc": a} for i, a in enumerate(acc)])
    write_docs(run_dir, "t", [{"doc_id": i, "prompt": f"q{i}", "target": "a", "fields": {"passage": i // size}}
                              for i in range(n_docs)])
    run_json.update_run_info(run_dir, {"model_args": "pretrained=ft", "alphas": list(PAPER_ALPHAS), "tasks": ["t"]})


def test_cv_by_cluster_holds_clusters_out_together_and_records_the_key(tmp_path):
    _clustered_store(tmp_path)
    result = cross_validate(tmp_path, cluster_key="passage", n_boot=200)
    row = result.tasks["t"]
    assert row.n_clusters == 15 and row.cluster_key == "passage"
    assert result.config.cluster_key == "passage"
    scores = store.score_matrix(tmp_path, "t", "acc").scores
    direct = cv.cross_validate_scores(scores, PAPER_ALPHAS, clusters=np.arange(60) // 4, n_boot=200,
                                      stream=row_stream("t"))
    assert row.delta_cv == direct.delta_cv and row.p_value == direct.p_value
    assert cross_validate(tmp_path, n_boot=200).tasks["t"].n_clusters is None


def row_stream(name):
    import zlib

    return zlib.crc32(name.encode())


def test_cv_refuses_a_field_the_docs_do_not_have(tmp_path, capsys):
    _clustered_store(tmp_path)
    assert main(["cv", str(tmp_path), "--cluster-key", "article"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no field 'article' to cluster by" in err[0]


def test_report_over_lm_eval_folders_tests_pairs_over_the_named_clusters(tmp_path):
    rng = np.random.default_rng(3)
    rows = {label: {"ta": (rng.random(40) < p).astype(float)} for label, p in (("base", 0.4), ("step-1", 0.6))}
    folders = []
    for label, scores in rows.items():
        write_lm_eval_run(tmp_path / label, f"pretrained=org/{label}", "grp", scores, "acc")
        folders.append(str(tmp_path / label))
    out = tmp_path / "out"
    assert main(["report", *folders, "--labels", "base,step-1", "--cluster-key", "passage", "--output", str(out)]) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    pair = next(p for p in board["pairs"] if p["task"] == "ta" and p["family"] == "base")
    clusters = np.arange(40) // PASSAGE
    assert pair["test"] == paired.CLUSTER_SIGN_FLIP
    assert pair["p"] == pytest.approx(sign_flip.sign_flip_p(np.bincount(clusters, rows["step-1"]["ta"] - rows["base"]["ta"])))
    step = next(r for r in board["rows"] if r["label"] == "step-1")
    assert step["tasks"]["ta"]["stderr"] == pytest.approx(mean_stderr(rows["step-1"]["ta"], clusters))

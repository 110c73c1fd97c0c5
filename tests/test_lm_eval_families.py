"""30 rows (the base and 29 checkpoints) of a group through `tuco-eval report` over lm-eval output
folders, written as lm-eval writes them (tests/helpers/lm_eval_files.py) from seeded scores: every pair
significant in every family (base, adjacent, all) where every row truly differs, each row's scores
lm-eval's; and under exchangeable rows, the p-values report writes are those of the analysis
functions whose family-wise error per family tests/test_calibration.py and
scripts/pairs_calibration.py measure over many data sets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.helpers.lm_eval_files import write_lm_eval_run
from tests.helpers.null_data import exchangeable_rows
from tuco_eval.cli import main
from tuco_eval.stats import multiplicity, paired

ROWS = 30  # the base and 29 checkpoints
DOCS = 50
TASKS = ("ta", "tb")
LABELS = ["base"] + [f"step-{r}" for r in range(1, ROWS)]
FAMILY_SIZES = {"base": ROWS - 1, "adjacent": ROWS - 1, "all": ROWS * (ROWS - 1) // 2}


def _report(tmp: Path, scores: np.ndarray, metric: str) -> tuple[dict, list[Path]]:
    """`report --pairs base,adjacent,all` over one lm-eval folder per row, ``scores[row, task, doc]``;
    the folders are given in a seeded shuffled order, each with its --labels entry."""
    results = []
    for r in range(ROWS):
        model = "org/pt" if r == 0 else f"org/sft/checkpoint-{r}"
        task_scores = dict(zip(TASKS, scores[r], strict=True))
        results.append(
            write_lm_eval_run(
                tmp / LABELS[r], f"pretrained={model},dtype=bfloat16", "grp", task_scores, metric
            )
        )
    order = np.random.default_rng(1).permutation(ROWS)
    args = ["report", *(str(tmp / LABELS[r]) for r in order), "--labels", ",".join(LABELS[r] for r in order),
            "--pairs", "base,adjacent,all", "--output", str(tmp / "out")]  # fmt: skip
    assert main(args) == 0
    return json.loads((tmp / "out" / "leaderboard.json").read_text()), results


def test_thirty_rows_all_different_every_pair_significant_in_every_family(tmp_path):
    # the measurement: row r scores r units above row 0 against noise 0.1 (here as an F1
    # in (0, 1): (r + 1 + noise) / 32); a 1/2001 floor on p gave 0 of 435 pairs significant
    noise = np.random.default_rng(0).normal(0, 0.1, (ROWS, len(TASKS), DOCS))
    assert np.abs(noise).max() < 1  # so every row is above the one before on every doc
    scores = (np.arange(ROWS)[:, None, None] + 1 + noise) / 32
    board, results = _report(tmp_path, scores, "f1")

    assert [r["label"] for r in board["rows"]] == LABELS  # base first, then by step
    assert [r["step"] for r in board["rows"]] == [None, *range(1, ROWS)]
    for r, (row, path) in enumerate(zip(board["rows"], results, strict=True)):
        written = json.loads(path.read_text())["results"]
        group = row["groups"]["grp"]
        assert (
            group["score"]
            == written["grp"]["f1,none"]
            == pytest.approx(scores[r].mean(), rel=1e-12)
        )
        assert (
            group["stderr"] == written["grp"]["f1_stderr,none"] and group["n"] == len(TASKS) * DOCS
        )
        for t, task in enumerate(TASKS):
            assert row["tasks"][task]["score"] == written[task]["f1,none"]
            assert row["tasks"][task]["score"] == pytest.approx(scores[r, t].mean(), rel=1e-12)
            assert row["tasks"][task]["stderr"] == pytest.approx(stats.sem(scores[r, t]), rel=1e-9)

    assert board["pair_families"] == list(FAMILY_SIZES)
    for name, level in [("grp", "group"), *((t, "task") for t in TASKS)]:
        for family, m in FAMILY_SIZES.items():
            found = [p for p in board["pairs"] if (p["task"], p["family"]) == (name, family)]
            assert (
                len(found) == m
                and {p["m"] for p in found} == {m}
                and {p["level"] for p in found} == {level}
            )
            assert all(p["significant"] for p in found), (name, family)
            assert max(p["p_holm"] for p in found) < 0.05 / 10, (name, family)
    pairs_by_family = [(p["task"], p["family"], p["significant"]) for p in board["pairs"]]
    lines = list(csv.DictReader((tmp_path / "out" / "pairs.csv").open()))
    assert [
        (line["task"], line["family"], line["significant"] == "true") for line in lines
    ] == pairs_by_family
    adjacent = [p for p in board["pairs"] if (p["task"], p["family"]) == ("grp", "adjacent")]
    assert [(p["a"], p["b"]) for p in adjacent] == list(zip(LABELS[:-1], LABELS[1:], strict=True))


# (0/1 or continuous scores, seed) per data set of exchangeable rows: a few through report, each
# checked against the analysis functions on the same arrays (its family-wise error over many data
# sets: tests/test_calibration.py, scripts/pairs_calibration.py)
EXCHANGEABLE = [(False, 30), (False, 31), (True, 32), (True, 33)]


@pytest.mark.parametrize(("binary", "seed"), EXCHANGEABLE)
def test_exchangeable_rows_report_writes_the_analysis_p_values_per_family(tmp_path, binary, seed):
    members = exchangeable_rows(1, ROWS, len(TASKS), DOCS, binary, 0.5, seed=seed)[0]
    scores = np.stack(members, axis=1) if binary else stats.norm.cdf(np.stack(members, axis=1))
    board, _ = _report(tmp_path, scores, "exact_match" if binary else "f1")
    is_base = [True] + [False] * (ROWS - 1)
    by_task = [("grp", paired.group_pairs, [scores[:, t] for t in range(len(TASKS))])]
    by_task += [(task, paired.task_pairs, scores[:, t]) for t, task in enumerate(TASKS)]
    for name, test, arrays in by_task:
        for family in FAMILY_SIZES:
            expected = test(arrays, n_boot=20, pairs=paired.family_pairs(family, is_base))
            found = [p for p in board["pairs"] if (p["task"], p["family"]) == (name, family)]
            assert [(p["a"], p["b"]) for p in found] == [
                (LABELS[a], LABELS[b]) for a, b in zip(expected.a, expected.b, strict=True)
            ]
            assert {p["test"] for p in found} == {expected.test}
            assert [p["p"] for p in found] == pytest.approx(
                expected.p.tolist(), rel=1e-9, abs=1e-15
            )
            assert [p["p_holm"] for p in found] == pytest.approx(
                expected.p_holm.tolist(), rel=1e-9, abs=1e-15
            )
    # the report's correction: Benjamini–Hochberg over each family's pairs of every task (groups apart)
    for family in FAMILY_SIZES:
        for level in ("task", "group"):
            found = [p for p in board["pairs"] if (p["family"], p["level"]) == (family, level)]
            adjusted = multiplicity.benjamini_hochberg(np.array([p["p"] for p in found]))
            assert [p["p_adjusted"] for p in found] == pytest.approx(adjusted.tolist(), rel=1e-12)
            assert [p["significant"] for p in found] == (adjusted < 0.05).tolist()
            for name in {p["task"] for p in found}:
                count = next(
                    c for c in board["family_counts"] if (c["task"], c["family"]) == (name, family)
                )
                assert count["significant"] == sum(p["significant"] for p in found if p["task"] == name)

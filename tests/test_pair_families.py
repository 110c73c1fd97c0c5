"""Families of paired tests (`report --pairs base|adjacent|all`): the pairs of each family by
hand, Holm within each family, 30 rows of a group all significant through `report` over a ROOT,
and the refusals (a base family without a base, groups whose runs list different members)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.helpers.checkpoint_roots import RIGHT, build_root
from tuco_eval.cli import main
from tuco_eval.stats import paired
from tuco_eval.store import run_json
from tuco_eval.store import units as store


def test_family_pairs_by_hand():
    rows = [True, False, False, False]  # the base, then three checkpoints
    pairs = {f: list(zip(*paired.family_pairs(f, rows), strict=True)) for f in paired.FAMILIES}
    assert pairs["base"] == [(0, 1), (0, 2), (0, 3)]
    assert pairs["adjacent"] == [(0, 1), (1, 2), (2, 3)]
    assert pairs["all"] == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert paired.default_families(has_base=True, is_series=True) == ("base", "adjacent")
    assert paired.default_families(has_base=True, is_series=False) == ("base",)
    assert paired.default_families(has_base=False, is_series=True) == ("adjacent",)
    assert paired.default_families(has_base=False, is_series=False) == ("all",)


def _holm_by_hand(p: list[float]) -> list[float]:
    m, order = len(p), sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def test_default_families_of_a_series_with_its_base(tmp_path):
    root = build_root(tmp_path / "root")
    assert main(["report", str(root), "--output", str(tmp_path / "out")]) == 0
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert board["pair_families"] == ["base", "adjacent"]
    ta = [p for p in board["pairs"] if p["task"] == "ta"]
    by_family = {f: [(p["a"], p["b"]) for p in ta if p["family"] == f] for f in ("base", "adjacent")}
    assert by_family == {
        "base": [("base", "step-100"), ("base", "step-200"), ("base", "step-300")],
        "adjacent": [("base", "step-100"), ("step-100", "step-200"), ("step-200", "step-300")],
    }
    for family in by_family:  # Holm over the family's three McNemar p's, nothing else
        found = [p for p in ta if p["family"] == family]
        gained = [RIGHT[p["b"]] - RIGHT[p["a"]] for p in found]
        p_values = [stats.binomtest(g, g, 0.5).pvalue for g in gained]
        assert [p["p"] for p in found] == pytest.approx(p_values, rel=1e-12)
        assert [p["p_holm"] for p in found] == pytest.approx(_holm_by_hand(p_values), rel=1e-12)
        assert {p["m"] for p in found} == {3}
        count = next(c for c in board["family_counts"] if (c["family"], c["task"]) == (family, "ta"))
        assert count == {"family": family, "task": "ta", "level": "task", "m": 3,
                         "significant": sum(p["significant"] for p in found)}  # fmt: skip
    lines = list(csv.DictReader((tmp_path / "out" / "pairs.csv").open()))
    assert [(line["family"], line["m"]) for line in lines] == [(p["family"], str(p["m"])) for p in board["pairs"]]
    page = (tmp_path / "out" / "index.html").read_text()
    # one table, a row per checkpoint, a column group per family, each counted on its own
    for family, heading in (("base", "vs base"), ("adjacent", "vs previous")):
        significant = sum(p["significant"] for p in ta if p["family"] == family)
        assert f"{heading}: {significant} of 3 significant" in page
    assert "* = significant after Benjamini–Hochberg, false discovery rate 5 % across the page's tasks" in page
    assert "comparisons are significant" not in page  # no pooled count


def test_base_family_without_a_base_is_refused(tmp_path, capsys):
    root = build_root(tmp_path / "root", base=False)
    assert main(["report", str(root), "--output", str(tmp_path / "out"), "--pairs", "base"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--pairs base needs a base row" in err
    assert main(["report", str(root), "--output", str(tmp_path / "out"), "--pairs", "nearby"]) == 2
    assert "--pairs takes base, adjacent, all" in capsys.readouterr().err


def _rewrite_groups(run_dir: Path, groups: dict) -> None:
    path = run_dir / "run.json"
    info = json.loads(path.read_text())
    path.write_text(json.dumps({**info, "groups": groups}))


@pytest.mark.parametrize("row", ["step-200", "base"])
def test_runs_whose_group_members_differ_are_refused(tmp_path, capsys, row):
    root = build_root(tmp_path / "root")
    _rewrite_groups(root / row, {"grp_ab": ["ta"], "grp_c": ["tc"]})  # tb left out of grp_ab
    assert main(["report", str(root), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "group grp_ab:" in err and row in err and f"only in {row}: none" in err and "tb" in err


# ---- 30 rows of a group, every pair truly different, through `report` over a ROOT --------------

ROWS = 30  # the base and 29 checkpoints
DOCS = 50


def _write_series(root: Path) -> None:
    """Task scores r + N(0, 0.1) for row r on two tasks (graded: the sign-flip test), the same at
    every α (so cv has nothing to choose), the base's RUN_DIR and checkpoints.json."""
    rng = np.random.default_rng(0)
    checkpoints = []
    for r in range(ROWS):
        label = "base" if r == 0 else f"step-{r}"
        alphas = (1.0,) if r == 0 else (0.9, 1.0, 1.1)
        for task in ("ta", "tb"):
            values = r + rng.normal(0, 0.1, DOCS)
            for alpha in alphas:
                records = [{"doc_id": d, "doc_hash": f"{task}-{d}", "acc": float(v)} for d, v in enumerate(values)]
                store.write_unit(root / label, alpha, task, records)
        info = {"model_args": f"pretrained=org/{label}", "label": label, "alphas": list(alphas),
                "tasks": ["ta", "tb"], "groups": {"grp": ["ta", "tb"]}}  # fmt: skip
        if r == 0:
            info["kind"] = "base"
        else:
            checkpoints.append({"label": label, "source": f"org/{label}", "revision": None, "step": r,
                                "kind": "checkpoint", "run_dir": label})  # fmt: skip
        run_json.update_run_info(root / label, info)
    series = {"format": 1, "checkpoints": checkpoints,
              "base": {"label": "base", "source": "org/pt", "revision": None, "run_dir": "base"}}  # fmt: skip
    (root / "checkpoints.json").write_text(json.dumps(series))


@pytest.mark.slow
def test_thirty_rows_of_a_group_all_significant_in_every_family(tmp_path):
    _write_series(tmp_path / "root")
    out = tmp_path / "out"
    assert main(["report", str(tmp_path / "root"), "--output", str(out), "--pairs", "base,adjacent,all"]) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    group = [p for p in board["pairs"] if p["task"] == "grp"]
    sizes = {"base": ROWS - 1, "adjacent": ROWS - 1, "all": ROWS * (ROWS - 1) // 2}
    for family, m in sizes.items():
        found = [p for p in group if p["family"] == family]
        assert len(found) == m and {p["m"] for p in found} == {m}
        assert all(p["significant"] for p in found), family  # today's code: 0 of 435 (p >= 1/2001)
        assert max(p["p_holm"] for p in found) < 0.05 / 10

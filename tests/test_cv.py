"""Cross-validation of alpha on synthetic score matrices with known answers."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from tuco_eval.analysis import run_cv
from tuco_eval.analysis.run_cv import cross_validate
from tuco_eval.records.cv_json import TaskRow
from tuco_eval.render import cv_tables
from tuco_eval.stats import alpha_null, cv, group_figures
from tuco_eval.stats.cv import CVError
from tuco_eval.stats.multiplicity import CORRECTIONS, DEFAULT_CORRECTION
from tuco_eval.store import run_json
from tuco_eval.store import units as store
from tuco_eval.util.params import PAPER_ALPHAS

GRID = np.array(PAPER_ALPHAS)
EXPECTED = Path(__file__).parent / "expected"
ONE = list(PAPER_ALPHAS).index(1.0)


def noise(n_docs: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=(len(GRID), n_docs)).astype(float)


def test_one_alpha_better_on_every_doc_gives_exactly_its_gain():
    base = np.random.default_rng(1).uniform(0.0, 0.5, size=300)
    scores = np.tile(base, (len(GRID), 1)) - 0.05
    scores[ONE] = base
    scores[GRID.tolist().index(1.1)] = base + 0.2
    r = cv.cross_validate_scores(scores, GRID)
    assert r["alphas_chosen"] == [1.1] * 5
    assert r["delta_cv"] == pytest.approx(0.2, abs=1e-12)
    assert r["acc_cv"] - r["acc_alpha1"] == pytest.approx(0.2, abs=1e-12)
    assert 0 < r["ci95"][0] < 0.2 < r["ci95"][1]
    # no α-permuted data set comes close: the second stage's floor
    assert r["p_value"] == 2 / (alpha_null.MAX_DRAWS + 1) and r["significant"]
    assert r["n_draws"] == alpha_null.MAX_DRAWS
    assert r["acc_by_alpha"]["1.1"] == pytest.approx(base.mean() + 0.2)
    assert r["n"] == 300


def test_identical_alpha_columns_give_zero_gain():
    scores = np.tile(noise(200, 2)[0], (len(GRID), 1))
    r = cv.cross_validate_scores(scores, GRID)
    assert r["alphas_chosen"] == [1.0] * 5  # every alpha ties: the one closest to 1 wins
    assert r["delta_cv"] == 0.0
    assert r["ci95"] == [0.0, 0.0]
    assert r["p_value"] == 1.0 and not r["significant"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pure_noise_gives_small_insignificant_gain(seed):
    r = cv.cross_validate_scores(noise(3000, seed), GRID, seed=seed)
    assert abs(r["delta_cv"]) < 0.03
    assert not r["significant"]
    assert r["ci95"][0] <= r["delta_cv"] <= r["ci95"][1]
    assert r["ci95"][0] < 0.01  # no sign of a gain (under noise CV is slightly pessimistic)


def test_min_objective_mirrors_max_on_negated_scores():
    scores = noise(400, 3)
    scores[GRID.tolist().index(0.9)] = np.maximum(scores[ONE], scores[0])  # a real winner
    up = cv.cross_validate_scores(scores, GRID, objective="max")
    down = cv.cross_validate_scores(-scores, GRID, objective="min")
    assert down["alphas_chosen"] == up["alphas_chosen"]
    assert down["delta_cv"] == pytest.approx(-up["delta_cv"])
    assert down["ci95"] == pytest.approx([-up["ci95"][1], -up["ci95"][0]])
    assert down["p_value"] == up["p_value"]
    assert down["significant"] == up["significant"] is True


def paper_folds(n_docs: int, folds: int, seed: int) -> list[np.ndarray]:
    """The paper's folds written out (sklearn's KFold(shuffle=True) recipe, without sklearn):
    one seeded permutation cut into consecutive slices, the first n % k one doc longer."""
    order = np.random.RandomState(seed).permutation(n_docs)
    sizes = [n_docs // folds + (k < n_docs % folds) for k in range(folds)]
    bounds = np.cumsum([0, *sizes])
    return [np.sort(order[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def test_a_loss_against_the_objective_is_not_significant():
    # each fold k has its own decoy alpha: perfect on the other folds (so training picks it), 0 on
    # fold k (so it always loses out of sample); alpha=1 scores 0.5 everywhere: Delta_CV = -0.5
    n = 500
    decoys = [i for i in range(len(GRID)) if i != ONE][:5]
    scores = np.zeros((len(GRID), n))
    scores[ONE] = 0.5
    for k, test in enumerate(cv.fold_test_indices(n, folds=5, seed=0)):
        scores[decoys[k]][:] = 1.0
        scores[decoys[k]][test] = 0.0
    r = cv.cross_validate_scores(scores, GRID, seed=0)
    assert r["alphas_chosen"] == [float(GRID[i]) for i in decoys]
    assert r["delta_cv"] == pytest.approx(-0.5)
    assert r["p_value"] < 0.05 and r["significant"] is False  # significant, but a loss
    down = cv.cross_validate_scores(-scores, GRID, seed=0, objective="min")
    assert down["delta_cv"] == pytest.approx(0.5)  # "min": a positive delta is the loss
    assert down["p_value"] < 0.05 and down["significant"] is False


@pytest.mark.parametrize(
    ("means", "expected"),
    [
        ([0.5] * 7, 1.0),  # all tied: alpha=1
        ([0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9], 0.75),  # 0.75 and 1.25 equally far: smaller
        ([0.1, 0.1, 0.9, 0.5, 0.9, 0.1, 0.1], 0.95),  # 0.95 and 1.05: smaller
        ([0.1, 0.9, 0.1, 0.1, 0.1, 0.9, 0.1], 0.9),
        ([0.1, 0.1, 0.1, 0.1, 0.1 + 0.2, 0.1, 0.3], 1.05),  # 0.1+0.2 ties 0.3 within float error
        ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], 1.25),
    ],
)
def test_choose_alpha_tie_breaking(means, expected):
    assert GRID[cv.choose_alpha(means, GRID, "max")] == expected
    assert GRID[cv.choose_alpha([-m for m in means], GRID, "min")] == expected


def test_fold_assignment_is_the_papers_seeded_kfold():
    # hand-derived: RandomState(7).permutation(10) = [8 5 0 2 | 1 9 7 | 3 6 4], each slice sorted
    small = cv.fold_test_indices(10, folds=3, seed=7)
    assert [f.tolist() for f in small] == [[0, 2, 5, 8], [1, 7, 9], [3, 4, 6]]
    folds = cv.fold_test_indices(103, folds=5, seed=7)
    for got, want in zip(folds, paper_folds(103, 5, 7), strict=True):
        np.testing.assert_array_equal(got, want)
    joined = np.concatenate(folds)
    assert sorted(joined.tolist()) == list(range(103))  # disjoint and covering
    assert sorted(len(f) for f in folds) == [20, 20, 21, 21, 21]
    again = cv.fold_test_indices(103, folds=5, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again, strict=True))
    other = cv.fold_test_indices(103, folds=5, seed=8)
    assert not all(np.array_equal(a, b) for a, b in zip(folds, other, strict=True))


def reference_cv(scores: np.ndarray, seed: int) -> tuple[list[float], float]:
    # a direct, loop-by-loop reading of the paper's protocol, independent of cv.py
    n = scores.shape[1]
    chosen, total = [], 0.0
    for test in paper_folds(n, 5, seed):
        means = np.delete(scores, test, axis=1).mean(axis=1)
        best = max(
            range(len(GRID)), key=lambda i: (round(means[i], 12), -abs(GRID[i] - 1), -GRID[i])
        )
        chosen.append(float(GRID[best]))
        total += scores[best, test].sum()
    return chosen, total / n


@pytest.mark.parametrize("seed", [0, 5])
def test_matches_reference_protocol(seed):
    rng = np.random.default_rng(seed)
    scores = (rng.random((len(GRID), 250)) < np.linspace(0.4, 0.6, len(GRID))[:, None]).astype(
        float
    )
    r = cv.cross_validate_scores(scores, GRID, seed=seed)
    chosen, acc_cv = reference_cv(scores, seed)
    assert r["alphas_chosen"] == chosen
    assert r["acc_cv"] == pytest.approx(acc_cv)
    assert r["delta_cv"] == pytest.approx(acc_cv - scores[ONE].mean())


def test_seeded_and_deterministic():
    # 10 docs, 3 folds; folds by hand from RandomState(seed).permutation(10), cut 4 | 3 | 3:
    # seed 7: [8 5 0 2 | 1 9 7 | 3 6 4], seed 8: [8 6 9 0 | 2 5 7 | 1 4 3]
    grid = [0.9, 1.0, 1.1]
    scores = np.zeros((3, 10))
    scores[0, [0, 2, 5, 8]] = 1  # α = 0.9
    scores[1, [0, 2, 4, 6, 8]] = 1  # α = 1
    scores[2, [1, 3, 4, 6, 7, 9]] = 1  # α = 1.1
    r = cv.cross_validate_scores(scores, grid, folds=3, seed=7)
    # seed 7, training means (0.9, 1, 1.1): fold {0,2,5,8}: (0, 2/6, 1) -> 1.1, scores 0 there;
    # {1,7,9}: (4/7, 5/7, 3/7) -> 1, scores 0; {3,4,6}: (4/7, 3/7, 3/7) -> 0.9, scores 0
    assert r["alphas_chosen"] == [1.1, 1.0, 0.9]
    assert (r["acc_alpha1"], r["acc_cv"], r["delta_cv"]) == (0.5, 0.0, -0.5)
    assert r == cv.cross_validate_scores(scores, grid, folds=3, seed=7)  # p and CI too
    # seed 8: {0,6,8,9}: (2/6, 2/6, 4/6) -> 1.1, scores 2; {2,5,7}: (2/7, 4/7, 5/7) -> 1.1,
    # scores 1; {1,3,4}: (4/7, 4/7, 3/7) tie -> 1 (closest to 1), scores 1: acc_cv 4/10
    other = cv.cross_validate_scores(scores, grid, folds=3, seed=8)
    assert other["alphas_chosen"] == [1.1, 1.1, 1.0]
    assert other["acc_cv"] == pytest.approx(0.4) and other["delta_cv"] == pytest.approx(-0.1)


def test_input_errors():
    with pytest.raises(CVError, match="alpha=1.0 must be in the grid"):
        cv.cross_validate_scores(noise(50, 0)[:2], [0.9, 1.1])
    with pytest.raises(CVError, match="4 docs cannot be split into 5 folds"):
        cv.cross_validate_scores(noise(4, 0), GRID)
    with pytest.raises(CVError, match="objective"):
        cv.cross_validate_scores(noise(50, 0), GRID, objective="best")
    with pytest.raises(CVError, match=r"\(7 x N\)"):
        cv.cross_validate_scores(noise(50, 0)[:3], GRID)


def test_clear_effect_gives_an_interval_above_zero():
    diff = (np.random.default_rng(5).random(200) < 0.3).astype(float)  # true mean 0.3
    low, high = cv.paired_bootstrap_ci(diff)
    assert 0 < low < diff.mean() < high


@pytest.mark.parametrize("diff", [np.zeros(50), np.full(7, 0.1), np.array([-0.25])])
def test_docs_all_alike_give_a_point_interval(diff):
    # every resample has the same mean: the interval is that value exactly, with no warning
    assert cv.paired_bootstrap_ci(diff) == (diff[0], diff[0])


def test_bootstrap_ci_matches_the_normal_interval_on_a_large_sample():
    diff = np.random.default_rng(6).choice([-1.0, 0.0, 1.0], p=[0.2, 0.5, 0.3], size=5000)
    half = 1.959964 * diff.std(ddof=1) / np.sqrt(len(diff))
    low, high = cv.paired_bootstrap_ci(diff, n_boot=4000, seed=2)
    assert low == pytest.approx(diff.mean() - half, abs=0.1 * half)
    assert high == pytest.approx(diff.mean() + half, abs=0.1 * half)


def test_bootstrap_ci_covers_the_true_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(7)
    covered = []
    for s in range(200):  # true mean 0.1
        diff = rng.choice([-1.0, 0.0, 1.0], p=[0.2, 0.5, 0.3], size=100)
        low, high = cv.paired_bootstrap_ci(diff, n_boot=1000, seed=s)
        covered.append(low <= 0.1 <= high)
    # 95 % nominal; percentile intervals run a little short at n=100; binomial sd 1.5 points
    assert 0.90 <= np.mean(covered) <= 0.99


def result(delta: float, significant: bool) -> TaskRow:
    return TaskRow(
        n=100, acc_alpha1=0.5, acc_cv=0.5 + delta, delta_cv=delta, alphas_chosen=[1.0] * 5,
        acc_by_alpha={}, ci95=[delta, delta], p_value=0.01 if significant else 1.0,
        significant=significant, metric="acc",
    )


def test_group_aggregation_is_the_mean_over_member_tasks():
    tasks = {"a": result(0.02, True), "b": result(0.0, False), "c": result(-0.01, False)}
    groups = group_figures.aggregate_groups(tasks, {"g": ["a", "b", "c"], "outer": ["g"], "h": ["a"]})
    assert groups["g"].n_tasks == 3
    assert groups["g"].delta_cv == pytest.approx(0.01 / 3)
    assert groups["g"].acc_cv == pytest.approx(0.5 + 0.01 / 3)
    assert groups["g"].share_significant == pytest.approx(1 / 3)
    assert groups["outer"].tasks == ["a", "b", "c"]  # nested groups expand to their tasks
    assert groups["h"].share_significant == 1.0
    with pytest.raises(CVError, match="'g' has members without results \\(zzz\\)"):
        group_figures.aggregate_groups(tasks, {"g": ["a", "zzz"]})


def build_store(run_dir, task_gains: dict[str, float], n_docs: int = 120) -> dict[str, np.ndarray]:
    """A store where α = 1.05 gets the first `gain` share of docs right; returns each task's
    (α × doc) score matrix as written."""
    matrices = {}
    for t, (task, gain) in enumerate(task_gains.items()):
        base = np.random.default_rng(t).integers(0, 2, n_docs).astype(float)
        rows = []
        for alpha in PAPER_ALPHAS:
            better = (np.arange(n_docs) < gain * n_docs) if alpha == 1.05 else 0
            acc = np.maximum(base, better)
            rows.append(acc)
            store.write_unit(
                run_dir,
                alpha,
                task,
                [{"doc_id": i, "doc_hash": f"{task}{i}", "acc": a} for i, a in enumerate(acc)],
            )
        matrices[task] = np.array(rows)
    run_json.update_run_info(
        run_dir,
        {
            "model_args": "pretrained=ft",
            "alphas": list(PAPER_ALPHAS),
            "tasks": list(task_gains),
            "groups": {"all": list(task_gains)},
        },
    )
    return matrices


def test_cross_validate_run_dir_writes_cv_json(tmp_path):
    matrices = build_store(tmp_path, {"easy": 0.5, "flat": 0.0})
    out = run_cv.cross_validate(tmp_path)
    assert json.loads((tmp_path / "cv.json").read_text()) == out.to_json()
    assert out.config.label == "ft" and out.config.folds == 5
    deltas = {}
    for task, scores in matrices.items():  # each task against the loop-by-loop protocol
        chosen, acc_cv = reference_cv(scores, seed=0)
        deltas[task] = acc_cv - scores[ONE].mean()
        assert out.tasks[task].alphas_chosen == chosen
        assert out.tasks[task].acc_alpha1 == pytest.approx(scores[ONE].mean())
        assert out.tasks[task].delta_cv == pytest.approx(deltas[task])
    # "easy": α = 1.05 is right on docs 0-59 besides every doc α = 1 gets: chosen in every fold
    assert out.tasks["easy"].alphas_chosen == [1.05] * 5 and out.tasks["easy"].significant
    assert deltas["flat"] == 0.0 and not out.tasks["flat"].significant
    assert out.groups["all"].delta_cv == pytest.approx((deltas["easy"] + deltas["flat"]) / 2)
    assert out.groups["all"].share_significant == 0.5
    table = cv_tables.format_table(out, CORRECTIONS[DEFAULT_CORRECTION])
    assert "|easy" in table and "|all" in table and "α per fold" in table


def test_cross_validate_refuses_missing_alpha(tmp_path):
    build_store(tmp_path, {"t": 0.1})
    run_json.update_run_info(tmp_path, {"model_args": "pretrained=ft", "alphas": [1.5]})
    with pytest.raises(store.StoreError, match=r"alpha=1.5/t.jsonl is incomplete"):
        run_cv.cross_validate(tmp_path)


# ---- the same numbers as before cv was split (tests/expected/cv_before_split.json) ------------
# Written by the code of commit 04aeae5 (cv.py before the statistics, groups and RUN_DIR I/O went
# to separate modules): seeded score matrices, the folds of 103 docs, two fixture RUN_DIRs.


# Δ_CV's p and CI changed since; the inference's own figures are new
_INFERENCE = ("ci95", "p_value", "significant", "share_significant", "se", "null_sd",
              "best_gain_bound", "n_draws", "n_clusters", "cluster_key")


def _point(result) -> dict:
    """The point estimates of a task or group result: Δ_CV, the α's chosen, the scores."""
    return {k: v for k, v in dict(result).items() if k not in _INFERENCE}


def _before_split() -> dict:
    return json.loads((EXPECTED / "cv_before_split.json").read_text())


def test_task_results_equal_those_before_the_split():
    for case in _before_split()["scores"]:
        scores = np.array(case["scores"], dtype=np.float64)
        result = cv.cross_validate_scores(
            scores, PAPER_ALPHAS, folds=case["folds"], seed=case["seed"],
            objective=case["objective"], n_boot=500,
        )
        assert _point(result) == _point(case["result"])  # exactly: same folds, same choices


def test_folds_and_run_results_equal_those_before_the_split(tmp_path):
    from tests.helpers.report_runs import build_run

    before = _before_split()
    folds = [t.tolist() for t in cv.fold_test_indices(103, folds=5, seed=7)]
    assert folds == before["folds"]["103,5,7"]
    for label in ("ckpt-A", "ckpt-B"):
        run = build_run(tmp_path / label, label)
        for objective in ("max", "min"):
            result = cross_validate(run, objective=objective, n_boot=500)
            expected = before["runs"][f"{label}/{objective}"]
            for name, row in result.tasks.items():
                assert _point(row.to_json()) == _point(expected["tasks"][name])
            for name, group in result.groups.items():
                assert _point(group.to_json()) == _point(expected["groups"][name])


# ---- the splitter argument (scikit-learn's check_cv, with the paper's seeded K-fold default) ----


def _naive_out_of_fold(scores, grid, tests):
    """Per fold: the α with the best mean on the other docs (ties: closest to 1, then smaller)."""
    out = np.empty(scores.shape[1])
    for test in tests:
        train = [d for d in range(scores.shape[1]) if d not in set(test.tolist())]
        means = [sum(scores[i, d] for d in train) / len(train) for i in range(len(grid))]
        best = max(range(len(grid)), key=lambda i: (round(means[i], 12), -abs(grid[i] - 1), -grid[i]))
        out[test] = scores[best, test]
    return out


def test_a_splitter_gives_the_naive_loops_out_of_fold_scores():
    from sklearn.model_selection import KFold

    scores = noise(60, 3)
    contiguous = KFold(n_splits=4)  # no shuffle: docs 0-14, 15-29, ...
    tests = [test for _, test in contiguous.split(np.zeros((60, 1)))]
    expected = _naive_out_of_fold(scores, GRID, tests)
    r = cv.cross_validate_scores(scores, GRID, folds=contiguous)
    assert r.acc_cv == pytest.approx(expected.mean(), abs=1e-12)
    assert r.delta_cv == pytest.approx((expected - scores[ONE]).mean(), abs=1e-12)
    # the same folds as (train, test) pairs: the same result
    pairs = list(contiguous.split(np.zeros((60, 1))))
    assert cv.cross_validate_scores(scores, GRID, folds=pairs) == r
    # the default is the paper's: KFold(5, shuffle=True, random_state=seed)
    seeded = KFold(n_splits=5, shuffle=True, random_state=11)
    assert cv.cross_validate_scores(scores, GRID, seed=11) == cv.cross_validate_scores(
        scores, GRID, folds=seeded, seed=11
    )


def test_a_splitter_that_does_not_hold_out_every_doc_once_is_refused():
    from sklearn.model_selection import ShuffleSplit

    with pytest.raises(CVError, match="exactly once"):
        cv.cross_validate_scores(noise(40, 0), GRID, folds=ShuffleSplit(n_splits=3, random_state=0))
    with pytest.raises(CVError, match="at least 2"):
        cv.splitter(1)


def test_task_result_is_a_dataclass_and_the_cv_json_row():
    r = cv.cross_validate_scores(noise(50, 1), GRID)
    assert isinstance(r, cv.TaskCV) and r["delta_cv"] == r.delta_cv
    assert list(dict(r)) == ["n", "acc_alpha1", "acc_cv", "delta_cv", "alphas_chosen", "acc_by_alpha",
                             "ci95", "p_value", "significant", "se", "null_sd", "best_gain_bound",
                             "n_draws", "n_clusters"]  # cv.json's key order
    json.dumps(dict(r))  # plain JSON values


# ---- Δ_CV's randomization distribution: α labels permuted within docs, the CV rerun -------------


def test_permuted_deltas_follow_the_exact_distribution_over_all_label_permutations():
    # 2 α's, 8 docs, 2 folds: 2^8 equally likely relabellings, each cross-validated by cv itself
    rng = np.random.default_rng(3)
    grid = [1.0, 1.1]
    scores = (rng.random((2, 8)) < 0.5).astype(float)
    scores[:, 0] = [0.0, 1.0]  # at least one doc varies
    tests = cv.fold_test_indices(8, folds=2, seed=0)
    exact = []
    for swaps in itertools.product([False, True], repeat=8):
        swapped = np.where(np.array(swaps), scores[::-1], scores)
        exact.append(cv.cross_validate_scores(swapped, grid, folds=2, n_boot=10).delta_cv)
    drawn = alpha_null.AlphaNull(scores, tests, one=0, preference=[0, 1], seed=1).draws(40000)
    for value in sorted(set(exact)):  # the CDF at every support point, within Monte Carlo error
        assert np.mean(drawn <= value + 1e-12) == pytest.approx(np.mean(np.array(exact) <= value + 1e-12), abs=0.01)


def test_p_counts_the_observed_data_set_and_its_smaller_tail():
    null = np.arange(-50, 50) / 1000  # 100 draws
    assert alpha_null.permutation_p(0.049, null, scale=1.0) == (pytest.approx(2 * 2 / 101), 1)
    assert alpha_null.permutation_p(0.040, null, scale=1.0) == (pytest.approx(2 * 11 / 101), 10)
    assert alpha_null.permutation_p(-0.050, null, scale=1.0) == (pytest.approx(2 * 2 / 101), 1)
    assert alpha_null.permutation_p(0.0, np.zeros(10), scale=1.0)[0] == 1.0


def test_the_second_stage_extends_the_first_draws_where_p_is_small():
    rng = np.random.default_rng(4)
    scores = (rng.random((len(GRID), 60)) < 0.5).astype(float)
    tests = cv.fold_test_indices(60, 5, 0)
    preference = sorted(range(len(GRID)), key=lambda i: cv.closest_to_one(float(GRID[i])))
    null = alpha_null.AlphaNull(scores, tests, ONE, preference, seed=0)
    first = null.draws(2000).copy()
    np.testing.assert_array_equal(null.draws(5000)[:2000], first)  # the same stream, continued
    fresh = alpha_null.AlphaNull(scores, tests, ONE, preference, seed=0)
    np.testing.assert_array_equal(fresh.draws(5000), null.draws(5000))
    # an ordinary Δ: 2,000 draws; one beyond every draw: MAX_DRAWS
    assert alpha_null.two_stage_p(0.0, null, 2000, 1.0)[1] == 2000
    p, used = alpha_null.two_stage_p(1.0, null, 2000, 1.0)
    assert used == alpha_null.MAX_DRAWS and p == 2 / (alpha_null.MAX_DRAWS + 1)

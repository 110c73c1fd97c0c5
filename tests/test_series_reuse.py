"""A series that reuses what is done: the base loaded already (a PEFT pair's) and a RUN_DIR already
swept for one checkpoint give the units the plain series computes, loading and evaluating less."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.checkpoint_series import LIMIT, run_series
from tuco_eval.core.pair import load_pair
from tuco_eval.harness.tuco_scaled import TucoScaledLM
from tuco_eval.store.units import read_unit
from tuco_eval.sweeps.alphas import sweep
from tuco_eval.sweeps.settings import EvalSettings
from tuco_eval.util.errors import TucoError

ALPHAS = (0.5, 1.0)


def _first_part(adapter: Path, pair_dirs, task_manager, run_dir: Path, limit: int = LIMIT):
    """The pair of one adapter loaded and swept on its own (the demo's part 1)."""
    pair = load_pair(str(adapter), pair_dirs[1])
    sweep(TucoScaledLM.from_pair(pair, batch_size=4), ["tiny_mc"], run_dir, alphas=ALPHAS,
          model_args=f"pretrained={adapter},base={pair_dirs[1]}",
          settings=EvalSettings(task_manager, limit=limit), progress=False)
    return pair


def _same_units(a: Path, b: Path) -> None:
    for alpha in ALPHAS if a.name != "base" else (1.0,):
        mine, theirs = read_unit(a, alpha, "tiny_mc"), read_unit(b, alpha, "tiny_mc")
        assert [(r["doc_id"], r["acc"]) for r in mine] == [(r["doc_id"], r["acc"]) for r in theirs]
        for x, y in zip(mine, theirs, strict=True):
            assert x["loglikelihoods"] == pytest.approx(y["loglikelihoods"], abs=1e-6)
            assert x.get("tuco") == pytest.approx(y.get("tuco"), abs=1e-6)


def test_loaded_base_and_a_reused_run_dir_give_the_plain_series(
        series_dirs, pair_dirs, task_manager, tmp_path, loads, evaluated):
    pattern = str(series_dirs / "adapters" / "checkpoint-*")
    plain = tmp_path / "plain"
    run_series([pattern], plain, pair_dirs, task_manager)
    pair = _first_part(series_dirs / "adapters" / "checkpoint-20", pair_dirs, task_manager, tmp_path / "first")
    loads.clear(), evaluated.clear()
    root = tmp_path / "root"
    run_series([pattern], root, pair_dirs, task_manager, base=(pair.model, pair.tokenizer),
         reuse={"step-20": tmp_path / "first"})
    assert loads == []  # the base is the pair's
    assert evaluated == [("base", 1.0), ("step-10", 0.5), ("step-10", 1.0)]  # step-20: copied
    for label in ("base", "step-10", "step-20"):
        _same_units(root / label, plain / label)
    assert read_unit(plain / "step-10", 1.0, "tiny_mc") != read_unit(plain / "step-20", 1.0, "tiny_mc")


def test_a_run_dir_of_other_weights_or_settings_is_refused(
        series_dirs, pair_dirs, task_manager, tmp_path, evaluated):
    pattern = str(series_dirs / "adapters" / "checkpoint-*")
    first = tmp_path / "first"
    _first_part(series_dirs / "adapters" / "checkpoint-20", pair_dirs, task_manager, first, limit=LIMIT - 1)
    evaluated.clear()
    with pytest.raises(TucoError, match="weight files differ"):
        run_series([pattern], tmp_path / "a", pair_dirs, task_manager, reuse={"step-10": first})
    with pytest.raises(TucoError, match="no checkpoint of the series"):
        run_series([pattern], tmp_path / "b", pair_dirs, task_manager, reuse={"step-30": first})
    assert evaluated == []  # both before any model loads
    with pytest.raises(TucoError, match="recorded metadata differ"):  # another doc limit
        run_series([pattern], tmp_path / "c", pair_dirs, task_manager, reuse={"step-20": first})
    assert not (tmp_path / "c" / "step-20" / "samples").exists()

"""`sweep_checkpoints` on the fixture task with the tests' settings (test_checkpoint_sweep.py,
test_series_reuse.py); their fixtures (series_dirs, evaluated, loads) are in tests/conftest.py."""

from __future__ import annotations

from tuco_eval.sweeps.series import sweep_checkpoints
from tuco_eval.sweeps.settings import EvalSettings, Grid, ModelOptions

LIMIT = 6


def run_series(finetuned, root, pair_dirs, task_manager, alphas=(0.5, 1.0), limit=LIMIT, **kwargs):
    return sweep_checkpoints(finetuned, ["tiny_mc"], root, model_args=f"base={pair_dirs[1]}",
                             settings=EvalSettings(task_manager, limit=limit), grid=Grid(alphas=alphas),
                             model_options=ModelOptions(batch_size=4), progress=False, **kwargs)

"""The α sweep over several scaling modes: the pair loaded once, the mode switched in place.

Each mode writes to its own store (`tuco_eval.store.run_json`: RUN_DIR for activation,
RUN_DIR/mode=<mode>/ for the others).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tuco_eval.store.run_json import RunInfo, mode_root, update_run_info
from tuco_eval.sweeps.alphas import sweep
from tuco_eval.sweeps.settings import EvalSettings, Grid
from tuco_eval.util.params import parse_mode


def sweep_modes(
    lm: Any,
    tasks: Sequence[str],
    run_dir: str | Path,
    *,
    settings: EvalSettings,
    grid: Grid | None = None,
    model_args: str = "",
    label: str | None = None,
    run_info: RunInfo | None = None,
    reuse: str | Path | None = None,
    progress: bool = True,
) -> dict[str, RunInfo]:
    """`sweep` over `grid`'s α once per mode of `grid` (default `Grid()`: the paper's α in `lm.mode`)
    into that mode's store, switching `lm.mode` in place; `reuse` (another RUN_DIR of the same
    weights) lends each mode the units of its own store there.

    Returns {mode: merged run description}; `lm.mode` is set back (θ_FT restored) at the end.
    """
    grid = grid or Grid()
    modes = [parse_mode(m) for m in (grid.modes or [lm.mode])]
    original = lm.mode
    infos: dict[str, RunInfo] = {}
    try:
        for mode in modes:
            root = mode_root(run_dir, mode)
            if root != Path(run_dir):
                parent_label = update_run_info(run_dir, RunInfo.of(model_args=model_args)).label
                # its own label, so that tables and plots tell the modes apart
                update_run_info(root, RunInfo.of(model_args=model_args, label=f"{parent_label} [{mode}]"))
            lm.mode = mode
            infos[mode] = sweep(lm, tasks, root, settings=settings, alphas=grid.alphas, model_args=model_args,
                                label=label, progress=progress, tuco_at_alpha_one=grid.tuco_at_alpha_one,
                                run_info=run_info, reuse=None if reuse is None else mode_root(reuse, mode))
    finally:
        lm.mode = original
    return infos

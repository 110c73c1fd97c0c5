"""The α sweep over several scaling modes: the pair loaded once, the mode switched in place.

Each mode has a store of its own, a complete RUN_DIR that every command reads:

    RUN_DIR/                      mode=activation (the paper's): the layout of docs/cv.md, as before
    RUN_DIR/mode=logits/          run.json, samples/alpha=<α>/<task>.jsonl, cv.json
    RUN_DIR/mode=weights/         the same

So a store written before modes existed is the activation store of a multi-mode RUN_DIR.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tuco_eval.modes import DEFAULT_MODE, MODES, parse_mode
from tuco_eval.store import RUN_INFO, list_units, update_run_info
from tuco_eval.sweep import sweep


def mode_root(run_dir: str | Path, mode: str) -> Path:
    """The store of one mode: RUN_DIR itself for the default mode, else RUN_DIR/mode=<mode>."""
    mode = parse_mode(mode)
    return Path(run_dir) if mode == DEFAULT_MODE else Path(run_dir) / f"mode={mode}"


def mode_roots(run_dir: str | Path) -> dict[str, Path]:
    """{mode: store} for every mode of RUN_DIR with complete results, in MODES order."""
    roots = {m: mode_root(run_dir, m) for m in MODES}
    return {
        m: root
        for m, root in roots.items()
        if (root / RUN_INFO).is_file() and list_units(root)
    }


def sweep_modes(
    lm: Any,
    tasks: Sequence[str],
    run_dir: str | Path,
    *,
    modes: Sequence[str],
    model_args: str = "",
    **sweep_kwargs: Any,
) -> dict[str, dict[str, Any]]:
    """`sweep` once per mode into that mode's store, switching `lm.mode` in place.

    Returns {mode: merged run description}; `lm.mode` is set back (θ_FT restored) at the end.
    """
    modes = [parse_mode(m) for m in modes]
    original = lm.mode
    infos: dict[str, dict[str, Any]] = {}
    try:
        for mode in modes:
            root = mode_root(run_dir, mode)
            if root != Path(run_dir):
                label = update_run_info(run_dir, {"model_args": model_args}).get("label")
                # its own label, so that tables and plots tell the modes apart
                update_run_info(root, {"model_args": model_args, "label": f"{label} [{mode}]"})
            lm.mode = mode
            infos[mode] = sweep(lm, tasks, root, model_args=model_args, **sweep_kwargs)
    finally:
        lm.mode = original
    return infos

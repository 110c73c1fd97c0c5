"""Mode names, and where each mode's results live in a RUN_DIR (no torch: `cv` stays light).

    RUN_DIR/                      mode=activation (the paper's): the layout of docs/cv.md, as before
    RUN_DIR/mode=logits/          run.json, samples/alpha=<α>/<task>.jsonl, cv.json
    RUN_DIR/mode=weights/         the same

Each mode's store is a complete RUN_DIR that every command reads, and a store written before
modes existed is the activation store of a multi-mode RUN_DIR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuco_eval.errors import TucoError
from tuco_eval.store import RUN_INFO, list_units

MODES = ("activation", "logits", "weights")
DEFAULT_MODE = "activation"


def parse_mode(value: Any) -> str:
    """One of MODES (case-insensitive), or a TucoError listing them."""
    mode = str(value).strip().lower()
    if mode not in MODES:
        raise TucoError(f"mode must be one of {', '.join(MODES)}; got {value!r}")
    return mode


def parse_modes(value: str) -> list[str]:
    """A comma-separated list of distinct modes, in the given order."""
    modes = [parse_mode(v) for v in value.split(",") if v.strip()]
    if not modes:
        raise TucoError(f"--modes names no mode; use some of {', '.join(MODES)}")
    if len(set(modes)) != len(modes):
        raise TucoError(f"--modes repeats a mode: {value!r}")
    return modes


def mode_root(run_dir: str | Path, mode: str) -> Path:
    """The store of one mode: RUN_DIR itself for the default mode, else RUN_DIR/mode=<mode>."""
    mode = parse_mode(mode)
    return Path(run_dir) if mode == DEFAULT_MODE else Path(run_dir) / f"mode={mode}"


def mode_roots(run_dir: str | Path) -> dict[str, Path]:
    """{mode: store} for every mode of RUN_DIR with complete results, in MODES order."""
    roots = {m: mode_root(run_dir, m) for m in MODES}
    return {m: r for m, r in roots.items() if (r / RUN_INFO).is_file() and list_units(r)}

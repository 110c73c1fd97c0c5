"""Mode names, and where each mode's results live in a RUN_DIR (no torch: `cv` stays light).

    RUN_DIR/                      mode=activation (the paper's): the layout of docs/formats.md, as before
    RUN_DIR/mode=logits/          run.json, samples/alpha=<α>/<task>.jsonl, cv.json
    RUN_DIR/mode=weights/         the same

Each mode's store is a complete RUN_DIR that every command reads, and a store written before
modes existed is the activation store of a multi-mode RUN_DIR.
"""

from __future__ import annotations

from pathlib import Path

from tuco_eval.store.run_json import RUN_INFO
from tuco_eval.store.units import list_units
from tuco_eval.util.params import DEFAULT_MODE, MODES, parse_mode


def mode_root(run_dir: str | Path, mode: str) -> Path:
    """The store of one mode: RUN_DIR itself for the default mode, else RUN_DIR/mode=<mode>."""
    mode = parse_mode(mode)
    return Path(run_dir) if mode == DEFAULT_MODE else Path(run_dir) / f"mode={mode}"


def mode_roots(run_dir: str | Path) -> dict[str, Path]:
    """{mode: store} for every mode of RUN_DIR with complete results, in MODES order."""
    roots = {m: mode_root(run_dir, m) for m in MODES}
    return {m: r for m, r in roots.items() if (r / RUN_INFO).is_file() and list_units(r)}

"""RUN_DIR/run.json: what a run is (model_args, label, α grid, tasks, groups, task configs,
filters, versions), merged by every shard of a sweep under a lock and written atomically; and
where each scaling mode's RUN_DIR lies (no torch: `cv` stays light):

    RUN_DIR/                      mode=activation (the paper's): the layout of docs/formats.md
    RUN_DIR/mode=logits/          run.json, samples/alpha=<α>/<task>.jsonl, cv.json
    RUN_DIR/mode=weights/         the same

Each mode's store is a complete RUN_DIR that every command reads, and a store written before
modes existed is the activation store of a multi-mode RUN_DIR.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuco_eval.store.units import StoreError, list_units
from tuco_eval.util.files import atomic_write_json, file_lock
from tuco_eval.util.lm_eval_labels import model_args_value
from tuco_eval.util.params import DEFAULT_MODE, MODES, parse_mode

RUN_INFO = "run.json"


def _label_from(model_args: str) -> str:
    return model_args_value(model_args, "pretrained") or model_args


def merge_run_info(old: Mapping[str, Any], new: Mapping[str, Any], where: str = "RUN_DIR") -> dict:
    """Union of two run descriptions; refuses two different ``model_args``."""
    old_args, new_args = old.get("model_args"), new.get("model_args")
    if old_args is not None and new_args is not None and old_args != new_args:
        raise StoreError(
            f"{where} holds results for model_args {old_args!r}, not {new_args!r}; "
            "use a separate RUN_DIR per model"
        )
    merged = {**new, **old}  # first writer wins for scalar fields (versions, label)
    merged["model_args"] = old_args if old_args is not None else new_args
    if not merged.get("label") and merged["model_args"]:
        merged["label"] = _label_from(str(merged["model_args"]))
    merged["alphas"] = sorted({float(a) for a in [*old.get("alphas", []), *new.get("alphas", [])]})
    merged["tasks"] = sorted({*old.get("tasks", []), *new.get("tasks", [])})
    groups: dict[str, set[str]] = {}
    for source in (old, new):
        for group, members in source.get("groups", {}).items():
            groups.setdefault(group, set()).update(members)
    merged["groups"] = {group: sorted(members) for group, members in sorted(groups.items())}
    merged["task_configs"] = {**new.get("task_configs", {}), **old.get("task_configs", {})}
    for key in ("filters", "group_aggregation"):  # per task / group, like task_configs
        merged[key] = {**new.get(key, {}), **old.get(key, {})}
    merged["metadata"] = {**old.get("metadata", {}), **new.get("metadata", {})}
    return merged


def read_run_info(run_dir: Path | str) -> dict:
    """The parsed ``RUN_DIR/run.json``; StoreError when RUN_DIR or run.json is missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise StoreError(f"RUN_DIR {run_dir} does not exist; run `tuco-eval sweep` first")
    path = run_dir / RUN_INFO
    try:
        info = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StoreError(
            f"{path} is missing; is {run_dir} the output of `tuco-eval sweep`?"
        ) from None
    except (OSError, ValueError) as err:
        raise StoreError(f"{path} is unreadable ({err})") from None
    if not isinstance(info, dict):
        raise StoreError(f"{path} is not a JSON object")
    return info


def update_run_info(run_dir: Path | str, info: Mapping[str, Any]) -> dict:
    """Merge ``info`` into ``RUN_DIR/run.json`` under a lock (shards may run concurrently)."""
    run_dir = Path(run_dir)
    with file_lock(run_dir / ".run.json.lock"):
        old = read_run_info(run_dir) if (run_dir / RUN_INFO).exists() else {}
        merged = merge_run_info(old, info, where=f"RUN_DIR {run_dir}")
        atomic_write_json(run_dir / RUN_INFO, merged)
    return merged


def mode_root(run_dir: str | Path, mode: str) -> Path:
    """The store of one mode: RUN_DIR itself for the default mode, else RUN_DIR/mode=<mode>."""
    mode = parse_mode(mode)
    return Path(run_dir) if mode == DEFAULT_MODE else Path(run_dir) / f"mode={mode}"


def mode_roots(run_dir: str | Path) -> dict[str, Path]:
    """{mode: store} for every mode of RUN_DIR with complete results, in MODES order."""
    roots = {m: mode_root(run_dir, m) for m in MODES}
    return {m: r for m, r in roots.items() if (r / RUN_INFO).is_file() and list_units(r)}

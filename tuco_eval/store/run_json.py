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

import dataclasses
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


RUN_FORMAT = 1  # run.json's layout; files before "format" existed have none and are this layout


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """RUN_DIR/run.json as a record: what a run is. Every key a tuco-eval has written is a field
    (absent keys read as None or empty); keys it does not know are kept in `extra`, and `keys`
    keeps the file's key order, so that `to_json` writes back exactly what was read."""

    model_args: str | None = None
    label: str | None = None
    kind: str | None = None  # "base": the base model alone (a series' ROOT/base)
    checkpoint: dict[str, Any] | None = None  # {label, source, revision, step, kind} of a series
    lm_eval_version: str | None = None
    tuco_eval_version: str | None = None
    alphas: list[float] = dataclasses.field(default_factory=list)
    tasks: list[str] = dataclasses.field(default_factory=list)
    groups: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    group_aggregation: dict[str, list[dict]] = dataclasses.field(default_factory=dict)
    filters: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    task_configs: dict[str, dict] = dataclasses.field(default_factory=dict)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    lm_eval_runs: dict[str, str] | None = None  # {α: results file} of a RUN_DIR gathered from lm_eval
    format: int | None = None  # RUN_FORMAT where written; absent in every file so far
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # keys of a newer writer
    keys: tuple[str, ...] = ()  # the JSON keys in file order; () for a record built in code

    def __post_init__(self) -> None:
        if not self.keys:  # built in code: the fields that are set, in declaration order
            given = [f.name for f in _FIELDS if getattr(self, f.name) not in (None, [], {})]
            object.__setattr__(self, "keys", (*given, *self.extra))

    @classmethod
    def of(cls, **fields: Any) -> RunInfo:
        """A record of these keys, written in the order given (as a writer lays out the file)."""
        return cls.from_json(fields)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], where: str = "run.json") -> RunInfo:
        """The record of a parsed run.json; StoreError for a file of a newer layout."""
        check_format(obj.get("format"), RUN_FORMAT, where, absent_ok=True)
        known = {k: v for k, v in obj.items() if k in _NAMES}
        extra = {k: v for k, v in obj.items() if k not in _NAMES}
        return cls(**known, extra=extra, keys=tuple(obj))

    def to_json(self) -> dict[str, Any]:
        """The JSON object, key for key and in order as it was read or built."""
        return {k: self.extra[k] if k in self.extra else getattr(self, k) for k in self.keys}

    def has(self, key: str) -> bool:
        """Whether the file holds `key` (a gathered RUN_DIR holds "lm_eval_runs")."""
        return key in self.keys


_FIELDS = [f for f in dataclasses.fields(RunInfo) if f.name not in ("extra", "keys")]
_NAMES = frozenset(f.name for f in _FIELDS)


def check_format(found: Any, current: int, where: str, absent_ok: bool = False) -> None:
    """A file of a layout this version reads, else one line: a newer tuco-eval wrote it."""
    if found is None and absent_ok:
        return
    if isinstance(found, int) and not isinstance(found, bool) and 1 <= found <= current:
        return
    raise StoreError(
        f"{where} has format {found!r}, written by a newer tuco-eval (this one reads format "
        f"{current}); upgrade tuco-eval (pip install -U tuco-eval) to read it"
    )


def _merge_json(old: Mapping[str, Any], new: Mapping[str, Any], where: str) -> dict:
    """The union of two run.json objects; refuses two different ``model_args``."""
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


def _record(info: RunInfo | Mapping[str, Any] | None) -> RunInfo:
    """A record; a mapping is read as run.json's object would be (tests write them so)."""
    if info is None:
        return RunInfo()
    return info if isinstance(info, RunInfo) else RunInfo.from_json(info)


def merge_run_info(
    old: RunInfo | Mapping[str, Any] | None, new: RunInfo | Mapping[str, Any], where: str = "RUN_DIR"
) -> RunInfo:
    """Union of two run descriptions; refuses two different ``model_args``."""
    # merged as JSON objects: the key order of the file stays what every earlier version wrote
    return RunInfo.from_json(_merge_json(_record(old).to_json(), _record(new).to_json(), where))


def read_run_info(run_dir: Path | str) -> RunInfo:
    """``RUN_DIR/run.json``; StoreError when RUN_DIR or run.json is missing, or it is newer."""
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
    return RunInfo.from_json(info, where=str(path))


def update_run_info(run_dir: Path | str, info: RunInfo | Mapping[str, Any]) -> RunInfo:
    """Merge ``info`` into ``RUN_DIR/run.json`` under a lock (shards may run concurrently)."""
    run_dir = Path(run_dir)
    with file_lock(run_dir / ".run.json.lock"):
        old = read_run_info(run_dir) if (run_dir / RUN_INFO).exists() else None
        merged = merge_run_info(old, info, where=f"RUN_DIR {run_dir}")
        atomic_write_json(run_dir / RUN_INFO, merged.to_json())
    return merged


def mode_root(run_dir: str | Path, mode: str) -> Path:
    """The store of one mode: RUN_DIR itself for the default mode, else RUN_DIR/mode=<mode>."""
    mode = parse_mode(mode)
    return Path(run_dir) if mode == DEFAULT_MODE else Path(run_dir) / f"mode={mode}"


def mode_roots(run_dir: str | Path) -> dict[str, Path]:
    """{mode: store} for every mode of RUN_DIR with complete results, in MODES order."""
    roots = {m: mode_root(run_dir, m) for m in MODES}
    return {m: r for m, r in roots.items() if (r / RUN_INFO).is_file() and list_units(r)}

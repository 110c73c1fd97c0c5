"""A checkpoint series on disk: what `--finetuned` names, and ROOT/checkpoints.json (no torch).

`resolve_checkpoints` turns the user's list (folders, globs ordered by step, Hub ids with
`@revision`) into `Checkpoint`s with labels; `plan_series` / `record_series` merge them into
ROOT/checkpoints.json (under a lock, atomically: several jobs may write one ROOT) and give each
its folder. The format is in docs/checkpoints.md:

    {"format": 1,
     "base": {"label": "base", "source": PT, "revision": null, "run_dir": "base"},
     "checkpoints": [{"label", "source", "revision", "step", "kind": "adapter"|"model", "run_dir"}]}
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuco_eval.store.run_json import check_format
from tuco_eval.store.units import StoreError
from tuco_eval.util.checkpoint_labels import (
    BASE_LABEL,
    SERIES_FILE,
    auto_label,
    check_labels,
    disambiguate,
    folder_names,
    natural_key,
    split_revision,
    step_of,
    training_order,
)
from tuco_eval.util.errors import TucoError
from tuco_eval.util.files import atomic_write_text, file_lock

FORMAT = 1
KINDS = ("adapter", "model")
_GLOB_CHARS = set("*?[")


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One fine-tuned checkpoint of a series, as checkpoints.json records it."""

    label: str
    source: str  # a local folder or a Hub id, as given
    revision: str | None
    step: int | None
    kind: str  # "adapter" (a PEFT adapter over the base) or "model" (full weights)
    run_dir: str = ""  # its RUN_DIR, relative to ROOT; set by plan_series

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def info(self) -> dict[str, Any]:
        """What its run.json carries under "checkpoint"."""
        return {k: v for k, v in self.record().items() if k != "run_dir"}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Checkpoint:
        """An entry of checkpoints.json, or a run.json's "checkpoint" (no run_dir); values as read."""
        return cls(obj.get("label"), obj.get("source"), obj.get("revision"), obj.get("step"),
                   obj.get("kind"), obj.get("run_dir", ""))


@dataclasses.dataclass(frozen=True)
class SeriesBase:
    """The base of a series, as checkpoints.json records it: evaluated alone in ROOT/<run_dir>."""

    label: str
    source: str
    revision: str | None
    run_dir: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SeriesBase:
        return cls(obj.get("label", BASE_LABEL), obj.get("source"), obj.get("revision"),
                   obj.get("run_dir", BASE_LABEL))


@dataclasses.dataclass(frozen=True)
class Series:
    """ROOT/checkpoints.json as a record: the base and the checkpoints in training order. Keys a
    newer writer added are kept in `extra`, so that `to_json` writes back what was read."""

    base: SeriesBase | None
    checkpoints: tuple[Checkpoint, ...]
    format: int = FORMAT
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object, laid out as every writer so far has laid it out."""
        return {
            "format": self.format,
            "base": self.base.to_json() if self.base is not None else None,
            "checkpoints": [c.record() for c in self.checkpoints],
            **self.extra,
        }

    @classmethod
    def from_json(cls, obj: Any, where: str = SERIES_FILE) -> Series:
        """The record of a parsed checkpoints.json; StoreError for a newer layout or no series."""
        if not isinstance(obj, dict) or not isinstance(obj.get("checkpoints"), list):
            raise StoreError(f"{where} has no 'checkpoints' list; it is not a checkpoint series")
        check_format(obj.get("format"), FORMAT, where, absent_ok=True)
        entries = obj["checkpoints"]
        if not all(isinstance(e, dict) for e in entries) or not isinstance(obj.get("base"), dict | None):
            raise StoreError(f"{where} holds an entry that is not a JSON object; it is not a checkpoint series")
        base = SeriesBase.from_json(obj["base"]) if obj.get("base") is not None else None
        extra = {k: v for k, v in obj.items() if k not in ("format", "base", "checkpoints")}
        return cls(base, tuple(Checkpoint.from_json(e) for e in entries), obj.get("format", FORMAT), extra)

    def text(self) -> str:
        """The file's text, as `json.dumps` with indent 2 has always written it."""
        return json.dumps(self.to_json(), indent=2) + "\n"


def expand(specs: Sequence[str]) -> list[tuple[str, str | None]]:
    """(source, revision) per checkpoint: globs expanded to their folders (by step, else in
    natural order), `name@rev` split unless a local path of that very name exists."""
    found: list[tuple[str, str | None]] = []
    for spec in (s.strip() for s in specs):
        if not spec:
            continue
        if _GLOB_CHARS & set(spec) and not os.path.exists(spec):
            matches = sorted((m for m in glob.glob(spec) if os.path.isdir(m)), key=natural_key)
            if not matches:
                raise TucoError(f"--finetuned pattern '{spec}' matches no folder; check the path")
            found += [(m, None) for m in training_order(matches, [step_of(m, None) for m in matches])]
        elif os.path.exists(spec):
            found.append((spec, None))
        else:
            found.append(split_revision(spec))
    if not found:
        raise TucoError("--finetuned names no checkpoint")
    return found


def kind_of(source: str, revision: str | None = None) -> str:
    """"adapter" for a PEFT adapter (adapter_config.json), "model" for full weights (config.json)."""
    folder = Path(source)
    if folder.is_dir():
        if (folder / "adapter_config.json").is_file():
            return "adapter"
        if (folder / "config.json").is_file():
            return "model"
        raise TucoError(
            f"{source} is neither a model folder (config.json) nor a PEFT adapter folder "
            "(adapter_config.json)"
        )
    if folder.exists():
        raise TucoError(f"{source} is a file; --finetuned takes model or adapter folders, or Hub ids")
    return "adapter" if _hub_has_adapter_config(source, revision) else "model"


def _hub_has_adapter_config(repo: str, revision: str | None) -> bool:
    """Whether a Hub repository holds a PEFT adapter; unknown (offline, not found) counts as a
    model, whose config check before any weights load then names the problem in one line."""
    from huggingface_hub import hf_hub_download

    try:
        hf_hub_download(repo, "adapter_config.json", revision=revision)
    except Exception:  # noqa: BLE001 - not there, not reachable, not a repo: all mean "not an adapter"
        return False
    return True


def resolve_checkpoints(specs: Sequence[str], labels: Sequence[str] | None = None) -> list[Checkpoint]:
    """The series in training order (by step when every checkpoint has one, else as given),
    each with its label: the user's (`labels`, one per checkpoint) or a derived, unique one."""
    pairs = expand(specs)
    sources = [source for source, _ in pairs]
    if labels is not None and len(labels) != len(pairs):
        raise TucoError(
            f"--labels gives {len(labels)} label(s) for {len(pairs)} checkpoint(s) "
            f"({', '.join(sources)}); give one label per checkpoint"
        )
    if labels is None:
        labels = disambiguate([auto_label(s, r) for s, r in pairs], sources)
        check_labels(labels, sources, flag="--labels")
    else:
        labels = [label.strip() for label in labels]
        check_labels(labels, sources)
    for i, (source, revision) in enumerate(pairs):
        if any(_same_source(source, s) and revision == r for s, r in pairs[:i]):
            raise TucoError(f"--finetuned names {source} twice; give each checkpoint once")
    checkpoints = [
        Checkpoint(label, source, revision, step_of(source, revision), kind_of(source, revision))
        for label, (source, revision) in zip(labels, pairs, strict=True)
    ]
    return training_order(checkpoints, [c.step for c in checkpoints])


def base_record(source: str, revision: str | None = None) -> SeriesBase:
    return SeriesBase(BASE_LABEL, source, revision, BASE_LABEL)


def read_series(root: str | Path) -> Series | None:
    """ROOT/checkpoints.json, or None when ROOT has none yet."""
    path = Path(root) / SERIES_FILE
    try:
        series = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise TucoError(f"{path} is unreadable ({err}); move it aside and rerun") from None
    return Series.from_json(series, str(path))


def _same_source(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        return os.path.realpath(a) == os.path.realpath(b)
    return a == b


def _same_checkpoint(entry: Checkpoint, checkpoint: Checkpoint) -> bool:
    return _same_source(str(entry.source), checkpoint.source) and entry.revision == checkpoint.revision


def _at(source: Any, revision: Any) -> str:
    return f"{source}{'@' + revision if revision else ''}"


def merge_series(
    old: Series | None, base: SeriesBase, checkpoints: Sequence[Checkpoint], where: str
) -> tuple[Series, list[Checkpoint]]:
    """(the merged checkpoints.json, `checkpoints` with their folders). Checkpoints already
    recorded keep their folders; one label for two sources, or another base, is refused."""
    old = old or Series(base, ())
    source, revision = (old.base.source, old.base.revision) if old.base else (None, None)
    if not _same_source(str(source), base.source) or revision != base.revision:
        raise TucoError(
            f"{where} holds checkpoints of the base {_at(source, revision)}, not "
            f"{_at(base.source, base.revision)}; use another --output"
        )
    entries = list(old.checkpoints)
    by_label = {e.label: e for e in entries}
    placed: list[Checkpoint] = []
    new = [c for c in checkpoints if c.label not in by_label]
    names = iter(folder_names([c.label for c in new], taken=[str(e.run_dir) for e in entries]))
    for checkpoint in checkpoints:
        entry = by_label.get(checkpoint.label)
        if entry is None:
            twin = next((e for e in entries if _same_checkpoint(e, checkpoint)), None)
            if twin is not None:
                raise TucoError(
                    f"{where} already records {checkpoint.source} as '{twin.label}'; label it "
                    f"'{twin.label}' again with --labels, or use another --output"
                )
            placed.append(dataclasses.replace(checkpoint, run_dir=next(names)))
            entries.append(placed[-1])
            continue
        if not _same_checkpoint(entry, checkpoint):
            raise TucoError(
                f"{where} already has a checkpoint labelled '{checkpoint.label}' from "
                f"{entry.source}, not {checkpoint.source}; set another label with --labels"
            )
        placed.append(dataclasses.replace(checkpoint, run_dir=str(entry.run_dir)))
    ordered = training_order(entries, [e.step for e in entries])
    return Series(base, tuple(ordered), FORMAT, old.extra), placed


def plan_series(root: str | Path, base: SeriesBase, checkpoints: Sequence[Checkpoint]) -> list[Checkpoint]:
    """The checkpoints with their folders, as `record_series` will record them; writes nothing
    (a clash with the ROOT's record is found before any model loads)."""
    return merge_series(read_series(root), base, checkpoints, f"--output {root}")[1]


def record_series(root: str | Path, base: SeriesBase, checkpoints: Sequence[Checkpoint]) -> list[Checkpoint]:
    """Merge the series into ROOT/checkpoints.json under a lock (jobs of an array write one ROOT);
    returns the checkpoints with their folders."""
    root = Path(root)
    with file_lock(root / f".{SERIES_FILE}.lock"):
        merged, placed = merge_series(read_series(root), base, checkpoints, f"--output {root}")
        atomic_write_text(root / SERIES_FILE, merged.text())
    return placed


INCOMPLETE = ".incomplete"  # ROOT/.incomplete/<run_dir>: the units of checkpoints dropped from a series


def forget_checkpoint(root: str | Path, source: str) -> str | None:
    """Drop the checkpoint recorded from `source` from ROOT/checkpoints.json (under its lock) and
    move its RUN_DIR, whose sweep never finished, to ROOT/.incomplete/; its label, or None when
    the series does not hold it. The ROOT stays a series every report reads."""
    root = Path(root)
    with file_lock(root / f".{SERIES_FILE}.lock"):
        series = read_series(root)
        entry = next((e for e in (series.checkpoints if series else ())
                      if _same_source(str(e.source), source)), None)
        if series is None or entry is None:
            return None
        series = dataclasses.replace(series, checkpoints=tuple(e for e in series.checkpoints if e is not entry))
        run_dir = root / str(entry.run_dir)
        if run_dir.is_dir():
            aside = root / INCOMPLETE / str(entry.run_dir)
            aside.parent.mkdir(parents=True, exist_ok=True)
            if aside.exists():  # an older attempt of the same folder name: the newest is kept
                shutil.rmtree(aside)
            os.replace(run_dir, aside)
        atomic_write_text(root / SERIES_FILE, series.text())
    return str(entry.label)

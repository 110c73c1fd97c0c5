"""The rows a report compares: each checkpoint's RUN_DIR and the base's, in training order.

`report` takes RUN_DIRs and ROOTs in any mix. A ROOT is a folder with `checkpoints.json` (written
by a multi-checkpoint sweep: the base's RUN_DIR and one per checkpoint, in training order) or any
folder whose sub-folders are RUN_DIRs (older sweeps side by side). A RUN_DIR whose run.json says
`"kind": "base"` is the base model alone: its row has a score but no α sweep. lm-eval's own output
folders (`--log_samples --output_path`) are rows too: one per run, labelled from its model_args
(tuco_eval.util.lm_eval_labels) or by `labels`; the one labelled "base" is the base row. Rows come base
first, then the checkpoints in checkpoints.json's order when they all come from one, else by
step when every one has a step, else by label (docs/formats.md, "Checkpoints: the rows of a report").
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tuco_eval.records.board_json import BASE, CHECKPOINT
from tuco_eval.store.checkpoints import Checkpoint, Series, SeriesBase
from tuco_eval.store.lm_eval_output import LmEvalRun, find_runs, is_lm_eval_output
from tuco_eval.store.run_json import RUN_INFO, read_run_info
from tuco_eval.store.units import StoreError
from tuco_eval.util.checkpoint_labels import SERIES_FILE as CHECKPOINTS_FILE
from tuco_eval.util.checkpoint_labels import first_step, single_pair_labels, split_revision
from tuco_eval.util.errors import TucoError
from tuco_eval.util.lm_eval_labels import lm_eval_run_name, model_args_value


@dataclass(frozen=True)
class Entry:
    """One row of the report: a checkpoint's RUN_DIR, or the base's (``kind`` "base")."""

    label: str
    source: str | None  # what was evaluated: a folder, a Hub id (with @revision), an adapter
    step: int | None  # training step, when known
    kind: str  # "checkpoint" or "base"
    run_dir: Path
    series: Path | None = None  # the checkpoints.json it is listed in
    lm_eval: LmEvalRun | None = None  # an lm-eval output folder's run (run_dir: its folder)


def _entry(run_dir: Path, listed: Checkpoint | None = None, series: Path | None = None) -> Entry:
    """The row of one RUN_DIR: checkpoints.json's record first, then run.json's, then the folder."""
    info = read_run_info(run_dir)
    own = Checkpoint.from_json(info.checkpoint or {})

    def recorded(name: str) -> Any:  # checkpoints.json's value where it has one, else run.json's
        value = getattr(listed, name) if listed is not None else None
        return value if value is not None else getattr(own, name)

    kind = BASE if BASE in (info.kind, recorded("kind")) else CHECKPOINT
    label = str(recorded("label") or info.label or run_dir.name)
    source = recorded("source") or model_args_value(str(info.model_args or ""), "pretrained")
    revision = recorded("revision") or model_args_value(str(info.model_args or ""), "revision")
    if source and revision and "@" not in str(source):
        source = f"{source}@{revision}"
    step = recorded("step")
    if kind == BASE:
        step = None
    elif not isinstance(step, int) or isinstance(step, bool):
        step = first_step(label, source, revision)
    return Entry(label, str(source) if source else None, step, kind, run_dir, series)


def _read_series(root: Path) -> Series:
    path = root / CHECKPOINTS_FILE
    try:
        series = json.loads(path.read_bytes())
    except (OSError, ValueError) as err:
        raise TucoError(f"{path} is unreadable ({err}); rerun the sweep that writes it") from None
    return Series.from_json(series, str(path))


def _listed(root: Path, record: Checkpoint, what: str) -> tuple[Path, Checkpoint]:
    if not isinstance(record.run_dir, str) or not record.run_dir:
        raise TucoError(f"{root / CHECKPOINTS_FILE}: {what} has no 'run_dir'; rerun the sweep")
    run_dir = root / record.run_dir
    if not (run_dir / RUN_INFO).is_file():
        raise TucoError(
            f"{root / CHECKPOINTS_FILE} lists {what} {record.label if record.label is not None else record.run_dir!r} "
            f"but {run_dir} has no results yet; finish the sweep (it resumes) or report its RUN_DIRs"
        )
    return run_dir, record


def _as_row(base: SeriesBase) -> Checkpoint:
    """The base's record, as a checkpoint's: the base alone, no step."""
    return Checkpoint(base.label, base.source, base.revision, None, BASE, base.run_dir)


def _root_entries(root: Path) -> list[Entry]:
    if (root / CHECKPOINTS_FILE).is_file():
        series = _read_series(root)
        listed = [_listed(root, _as_row(series.base), "the base")] if series.base else []
        listed += [_listed(root, c, "checkpoint") for c in series.checkpoints]
        return [_entry(run_dir, record, root) for run_dir, record in listed]
    run_dirs = sorted(d for d in root.iterdir() if (d / RUN_INFO).is_file())
    if not run_dirs:
        raise TucoError(
            f"{root} is neither a RUN_DIR (no {RUN_INFO}), a ROOT (no {CHECKPOINTS_FILE}, no "
            "sub-folder with a run.json) nor an lm-eval --output_path (no results_*.json); give "
            "the --output of `tuco-eval sweep` or of `lm_eval --log_samples`"
        )
    return [_entry(d) for d in run_dirs]


def _natural(label: str) -> list[Any]:
    # "step-2" before "step-10": numbers compare as numbers
    return [
        (0, int(p), "") if p.isdigit() else (1, 0, p.casefold()) for p in re.split(r"(\d+)", label)
    ]


def training_order(entries: Sequence[Entry]) -> list[Entry]:
    """Base rows first (as given), then the checkpoints in their checkpoints.json order when they
    all come from one, else by step when every one has a step, else by label (numbers by value)."""
    bases = [e for e in entries if e.kind == BASE]
    checkpoints = [e for e in entries if e.kind != BASE]
    one_series = len({e.series for e in checkpoints}) == 1 and checkpoints[0].series is not None
    if one_series:  # the sweep wrote them in training order
        return bases + checkpoints
    if all(e.step is not None for e in checkpoints):
        return bases + sorted(checkpoints, key=lambda e: e.step)  # stable for equal steps
    return bases + sorted(checkpoints, key=lambda e: _natural(e.label))


def _unique_labels(entries: Sequence[Entry]) -> list[Entry]:
    # a repeated label gets its folder's name, then the parent's too (ROOT/base beside ROOT2/base)
    seen: set[str] = set()
    out = []
    for e in entries:
        label = e.label
        for candidate in (
            label,
            f"{label} [{e.run_dir.name}]",
            f"{label} [{e.run_dir.parent.name}/{e.run_dir.name}]",
        ):
            label = candidate
            if candidate not in seen:
                break
        else:
            label = f"{e.label} [{e.run_dir}]"
        seen.add(label)
        out.append(replace(e, label=label))
    return out


def lm_eval_entries(path: Path, say: Any = print) -> list[Entry]:
    """A row per lm-eval run under an --output_path (or the one results JSON it names)."""
    entries = []
    for run in find_runs(path, say):
        name = lm_eval_run_name(run.model_args, run.folder.name)
        kind = BASE if name.label == BASE else CHECKPOINT  # a model folder called "base", as a ROOT's
        step = None if kind == BASE else name.step
        entries.append(Entry(name.label, name.source, step, kind, run.folder, lm_eval=run))
    return entries


def _labelled(entries: list[Entry], labels: Sequence[str] | None) -> list[Entry]:
    """The lm-eval rows named by `labels` (one each, in order); "base" makes a row the base."""
    runs = [i for i, e in enumerate(entries) if e.lm_eval is not None]
    if labels is None:
        return entries
    if len(labels) != len(runs):
        raise TucoError(
            f"--labels gives {len(labels)} label(s) for {len(runs)} lm-eval run(s) "
            f"({', '.join(str(entries[i].lm_eval.results_path) for i in runs)}); give one per run"
        )
    out = list(entries)
    for i, label in zip(runs, labels, strict=True):
        kind = BASE if label.strip() == BASE else CHECKPOINT
        out[i] = replace(entries[i], label=label.strip(), kind=kind, step=None if kind == BASE else entries[i].step)
    return out


def resolve_rows(
    paths: Sequence[Path | str], labels: Sequence[str] | None = None, say: Any = print
) -> list[Entry]:
    """The rows of `report`'s arguments (RUN_DIRs, ROOTs and lm-eval output folders), each once,
    labels unique, in training order; a path that is none of them is refused in one line."""
    entries: list[Entry] = []
    seen: set[Path] = set()
    for path in map(Path, paths):
        if is_lm_eval_output(path):
            found = lm_eval_entries(path, say)
        elif not path.is_dir():
            raise StoreError(f"RUN_DIR {path} does not exist; run `tuco-eval sweep` first")
        else:
            found = [_entry(path)] if (path / RUN_INFO).is_file() else _root_entries(path)
        for entry in found:
            key = (entry.lm_eval.results_path if entry.lm_eval else entry.run_dir).resolve()
            if key not in seen:
                seen.add(key)
                entries.append(entry)
    entries = _labelled(entries, labels)
    if not any(e.kind != BASE for e in entries):
        raise TucoError(
            f"{', '.join(map(str, paths))} holds only the base model's RUN_DIR; give the "
            "checkpoints' RUN_DIRs (or their ROOT) too"
        )
    return training_order(_unique_labels(_short_source_labels(entries)))


def _short_source_labels(entries: Sequence[Entry]) -> list[Entry]:
    """A row labelled by its fine-tuned model's whole source (what a sweep without a label records:
    an absolute path, say) gets the short label a checkpoint would; the source stays in `source`."""
    named = [i for i, e in enumerate(entries) if e.kind != BASE and e.source
             and e.label in (e.source, split_revision(e.source)[0])]
    labels = single_pair_labels([str(entries[i].source) for i in named])
    out = list(entries)
    for i, label in zip(named, labels, strict=True):
        out[i] = replace(entries[i], label=label)
    return out

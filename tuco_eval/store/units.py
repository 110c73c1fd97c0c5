"""Per-sample store of a TuCo sweep: one JSONL file per (alpha, task), atomic and resumable.

Layout of a RUN_DIR (see docs/formats.md)::

    run.json                                  run description, merged by every shard (run_json)
    samples/alpha=<format_alpha(a)>/<task>.jsonl      one JSON object per doc
    samples/alpha=<format_alpha(a)>/<task>.done.json  manifest {"n", "sha256", "metrics"}
    samples/alpha=<format_alpha(a)>/<task>.lock       held by the sweep writing that unit
    docs/<task>.jsonl                         each doc's prompt, choices and target (doc_texts)

A unit (alpha, task) is complete only when its manifest exists and matches the JSONL bytes.
Every file is written to a temporary file in the same directory, fsynced, then renamed, so a
crash leaves either the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tuco_eval.util.errors import TucoError
from tuco_eval.util.files import atomic_write_bytes, atomic_write_json, jsonable
from tuco_eval.util.params import format_alpha

SAMPLES = "samples"
_NOT_METRICS = {"doc_id", "tuco", "kl", "base_rank"}  # numeric per-doc fields that are not scores
_TASK_RE = re.compile(r"^[^./\\\x00][^/\\\x00]*$")


class StoreError(TucoError):
    """The RUN_DIR is missing, incomplete, corrupted or inconsistent; the message names the fix."""


@dataclass(frozen=True)
class ScoreMatrix:
    """Per-doc scores of one task: ``scores[i, j]`` is the metric of doc ``doc_ids[j]`` at ``alphas[i]``."""

    alphas: np.ndarray  # shape [A], ascending
    doc_ids: np.ndarray  # shape [N], ascending
    scores: np.ndarray  # shape [A, N], float64


def alpha_dir(run_dir: Path | str, alpha: float) -> Path:
    """``RUN_DIR/samples/alpha=<alpha>``."""
    return Path(run_dir) / SAMPLES / f"alpha={format_alpha(alpha)}"


def unit_paths(run_dir: Path | str, alpha: float, task: str) -> tuple[Path, Path]:
    """(jsonl path, manifest path) of the unit (alpha, task)."""
    if not _TASK_RE.match(task):
        raise StoreError(f"task name {task!r} cannot be a file name (no '/', no leading '.')")
    directory = alpha_dir(run_dir, alpha)
    return directory / f"{task}.jsonl", directory / f"{task}.done.json"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _encode_records(records: Iterable[Mapping[str, Any]]) -> tuple[bytes, int, list[str]]:
    lines: list[str] = []
    metrics: set[str] = set()
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise StoreError(f"record {i} is a {type(record).__name__}, expected a dict")
        if not isinstance(record.get("doc_id"), int) or isinstance(record.get("doc_id"), bool):
            raise StoreError(f"record {i} needs an integer 'doc_id', got {record.get('doc_id')!r}")
        if not isinstance(record.get("doc_hash"), str):
            raise StoreError(f"record {i} needs a string 'doc_hash'")
        try:
            lines.append(json.dumps(dict(record), default=jsonable))
        except (TypeError, ValueError) as err:
            raise StoreError(f"record {i} (doc_id {record['doc_id']}) is not JSON: {err}") from err
        metrics.update(k for k, v in record.items() if k not in _NOT_METRICS and _is_number(v))
    data = "".join(line + "\n" for line in lines).encode()
    return data, len(lines), sorted(metrics)


def write_unit(
    run_dir: Path | str, alpha: float, task: str, records: Iterable[Mapping[str, Any]]
) -> Path:
    """Store the per-doc records of (alpha, task) and mark the unit complete; returns the JSONL path.

    Each record needs ``doc_id`` (int) and ``doc_hash`` (str); numeric fields other than
    ``doc_id``/``tuco`` are listed as metrics in the manifest.
    """
    jsonl, manifest = unit_paths(run_dir, alpha, task)
    data, n, metrics = _encode_records(records)
    with contextlib.suppress(FileNotFoundError):  # the unit is incomplete while it is rewritten
        manifest.unlink()
    atomic_write_bytes(jsonl, data)
    sha = hashlib.sha256(data).hexdigest()
    atomic_write_json(manifest, {"n": n, "sha256": sha, "metrics": metrics})
    return jsonl


def _verified_bytes(run_dir: Path | str, alpha: float, task: str) -> tuple[bytes, dict]:
    jsonl, manifest_path = unit_paths(run_dir, alpha, task)
    rerun = "rerun the sweep for this alpha and task (completed units are kept)"
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except FileNotFoundError:
        raise StoreError(
            f"{jsonl} is incomplete (no manifest {manifest_path.name}); {rerun}"
        ) from None
    except (OSError, ValueError, RecursionError) as err:
        raise StoreError(f"manifest {manifest_path} is unreadable ({err}); {rerun}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str):
        raise StoreError(f"manifest {manifest_path} has no 'sha256'; {rerun}")
    try:
        data = jsonl.read_bytes()
    except OSError as err:
        raise StoreError(f"{jsonl} is unreadable ({err}); {rerun}") from None
    if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise StoreError(
            f"{jsonl} does not match its manifest checksum (truncated or edited); {rerun}"
        )
    return data, manifest


def unit_is_complete(run_dir: Path | str, alpha: float, task: str) -> bool:
    """True when the unit's manifest exists and its checksum matches the JSONL bytes."""
    try:
        _verified_bytes(run_dir, alpha, task)
    except StoreError:
        return False
    return True


def _parse_line(line: bytes, where: str) -> dict:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise StoreError(f"{where} is not valid JSON ({err}); rerun the sweep") from None
    if not isinstance(record, dict):
        raise StoreError(f"{where} is not a JSON object; rerun the sweep")
    doc_id, doc_hash = record.get("doc_id"), record.get("doc_hash")
    if not isinstance(doc_id, int) or isinstance(doc_id, bool) or not isinstance(doc_hash, str):
        raise StoreError(f"{where} lacks an integer doc_id or a string doc_hash; rerun the sweep")
    return record


def read_unit(run_dir: Path | str, alpha: float, task: str) -> list[dict]:
    """The verified per-doc records of (alpha, task); StoreError when incomplete or corrupted."""
    data, manifest = _verified_bytes(run_dir, alpha, task)
    jsonl = unit_paths(run_dir, alpha, task)[0]
    lines = data.splitlines()
    records = [_parse_line(line, f"{jsonl} line {i + 1}") for i, line in enumerate(lines)]
    if manifest.get("n") != len(records):
        raise StoreError(
            f"{jsonl} has {len(records)} records but its manifest says {manifest.get('n')!r}; rerun the sweep"
        )
    return records


def _alpha_dirs(run_dir: Path) -> Iterator[tuple[float, Path]]:
    for directory in sorted((run_dir / SAMPLES).glob("alpha=*")):
        with contextlib.suppress(ValueError):  # ignore stray directories
            yield float(directory.name.removeprefix("alpha=")), directory


def list_units(run_dir: Path | str) -> dict[str, dict[float, Path]]:
    """``{task: {alpha: jsonl path}}`` of the complete units in RUN_DIR (checksums verified)."""
    units: dict[str, dict[float, Path]] = {}
    for alpha, directory in _alpha_dirs(Path(run_dir)):
        for manifest in sorted(directory.glob("*.done.json")):
            task = manifest.name.removesuffix(".done.json")
            if unit_is_complete(run_dir, alpha, task):
                units.setdefault(task, {})[alpha] = unit_paths(run_dir, alpha, task)[0]
    return {task: dict(sorted(by_alpha.items())) for task, by_alpha in sorted(units.items())}


def store_fingerprint(run_dir: Path | str) -> str:
    """sha256 over the manifests of RUN_DIR: changes whenever a unit is added or rewritten."""
    digest = hashlib.sha256()
    for alpha, directory in _alpha_dirs(Path(run_dir)):
        for manifest in sorted(directory.glob("*.done.json")):
            digest.update(f"{alpha!r}/{manifest.name}\0".encode() + manifest.read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def unit_lock(run_dir: Path | str, alpha: float, task: str) -> Iterator[Path]:
    """Hold ``samples/alpha=<alpha>/<task>.lock`` so that two sweeps never write the same unit.

    Jobs sharded by alpha, by task or both write one RUN_DIR side by side; only the same
    (alpha, task) twice collides. The flock is non-blocking: a second holder gets a StoreError
    at once. The kernel releases it when the holder exits, even on SIGKILL, so a crashed sweep
    never leaves a stale lock.
    """
    lock_path = alpha_dir(run_dir, alpha) / f"{task}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise StoreError(
                f"another sweep is already running alpha={format_alpha(alpha)} {task} in RUN_DIR "
                f"{run_dir} (pid {holder}); wait for it, or leave that unit to it"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield lock_path
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def unit_metrics(run_dir: Path | str, alpha: float, task: str) -> list[str] | None:
    """The metric fields listed in the unit's manifest (not checksummed: `read_unit` does that);
    None when the manifest is missing, unreadable or lists none."""
    try:
        metrics = json.loads(unit_paths(run_dir, alpha, task)[1].read_bytes()).get("metrics")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return [m for m in metrics if isinstance(m, str)] if isinstance(metrics, list) else None


def task_alphas(run_dir: Path | str, task: str) -> list[float]:
    """The α's with a manifest for ``task``."""
    return _task_alphas(Path(run_dir), task)


def _task_alphas(run_dir: Path, task: str) -> list[float]:
    return [a for a, d in _alpha_dirs(run_dir) if (d / f"{task}.done.json").exists()]


def doc_scores(records: list[dict], metric: str, where: str) -> dict[int, tuple[str, float]]:
    """``{doc_id: (doc_hash, score)}`` of verified records; StoreError naming ``where`` for a
    repeated doc_id or a missing or non-finite ``metric``."""
    docs: dict[int, tuple[str, float]] = {}
    for record in records:
        doc_id, value = record["doc_id"], record.get(metric)
        if doc_id in docs:
            raise StoreError(f"{where}: doc_id {doc_id} appears twice; rerun the sweep")
        if not _is_number(value) or not math.isfinite(value):
            present = sorted(
                k for k, v in record.items() if k not in _NOT_METRICS and _is_number(v)
            )
            raise StoreError(
                f"{where}: doc_id {doc_id} has no finite '{metric}' (numeric fields: {present}); "
                "pick one with --metric"
            )
        docs[doc_id] = (record["doc_hash"], float(value))
    return docs


def score_matrix(
    run_dir: Path | str,
    task: str,
    metric: str = "acc",
    alphas: Iterable[float] | None = None,
) -> ScoreMatrix:
    """The (alpha x doc) matrix of ``metric`` for ``task``, docs sorted by doc_id.

    ``alphas`` defaults to every alpha with a manifest for the task; every unit used must be
    complete, and every alpha must cover the same docs (same doc_id and doc_hash).
    """
    run_dir = Path(run_dir)
    grid = sorted({float(a) for a in (_task_alphas(run_dir, task) if alphas is None else alphas)})
    if not grid:
        raise StoreError(f"RUN_DIR {run_dir} has no complete results for task {task!r}")
    per_alpha = {
        a: doc_scores(read_unit(run_dir, a, task), metric, f"task {task} alpha={format_alpha(a)}")
        for a in grid
    }
    ref_alpha, ref = grid[0], per_alpha[grid[0]]
    for alpha, docs in per_alpha.items():
        differing = sorted(
            d for d in ref.keys() | docs.keys() if ref.get(d, (None,))[0] != docs.get(d, (None,))[0]
        )
        if differing:
            raise StoreError(
                f"task {task}: alpha={format_alpha(ref_alpha)} and alpha={format_alpha(alpha)} "
                f"cover different docs (e.g. doc_id {differing[0]}, {len(differing)} in all); "
                "rerun the sweep for one of them with the same task config"
            )
    doc_ids = np.array(sorted(ref), dtype=np.int64)
    scores = np.array(
        [[per_alpha[a][d][1] for d in doc_ids.tolist()] for a in grid], dtype=np.float64
    ).reshape(len(grid), len(doc_ids))
    return ScoreMatrix(alphas=np.array(grid, dtype=np.float64), doc_ids=doc_ids, scores=scores)

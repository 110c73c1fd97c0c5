"""RUN_DIR/docs/<task>.jsonl: each doc's prompt, choices and target, the same at every α (what
the report's flips show beside the scores)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tuco_eval.store.units import unit_paths
from tuco_eval.util.files import atomic_write_bytes, jsonable

DOCS = "docs"


def docs_path(run_dir: Path | str, task: str) -> Path:
    """``RUN_DIR/docs/<task>.jsonl``: the task's doc texts, the same at every alpha."""
    unit_paths(run_dir, 1.0, task)  # the same check of the task name
    return Path(run_dir) / DOCS / f"{task}.jsonl"


def write_docs(run_dir: Path | str, task: str, docs: Iterable[Mapping[str, Any]]) -> Path | None:
    """Store each doc's ``doc_id``, ``prompt``, ``choices``, ``target`` and short ``fields``
    (written only when changed)."""
    path = docs_path(run_dir, task)
    data = "".join(json.dumps(dict(d), default=jsonable) + "\n" for d in docs).encode()
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:  # every alpha of a task writes the same docs
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return path


def read_docs(run_dir: Path | str, task: str) -> dict[int, dict]:
    """``{doc_id: doc}`` of the task's doc texts; empty for a store written before they were kept."""
    docs: dict[int, dict] = {}
    with contextlib.suppress(OSError):
        for line in docs_path(run_dir, task).read_bytes().splitlines():
            with contextlib.suppress(ValueError, RecursionError):  # the texts are for display only
                doc = json.loads(line)
                if isinstance(doc, dict) and isinstance(doc.get("doc_id"), int):
                    docs[doc["doc_id"]] = doc
    return docs


def read_doc_fields(run_dir: Path | str, task: str) -> dict[int, dict]:
    """``{doc_id: fields}``: each doc's stored short fields (store.clusters), {} where none were kept."""
    return {doc_id: doc.get("fields") or {} for doc_id, doc in read_docs(run_dir, task).items()}

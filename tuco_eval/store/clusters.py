"""Clustered documents (docs/statistics.md, "Clustered documents"): the doc field that groups a task's docs
(questions on one passage, paraphrases of one prompt), named by the task's lm-eval config
(`metadata: {cluster_key: FIELD}`) or on the command line (`--cluster-key FIELD`), and each doc's
cluster label read from its stored fields (a sweep's docs/<task>.jsonl, an lm-eval run's samples)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tuco_eval.store.doc_texts import read_doc_fields
from tuco_eval.store.run_json import RunInfo
from tuco_eval.store.units import StoreError

CLUSTER_KEY = "cluster_key"  # the task metadata entry that names the field
_LONGEST = 200  # characters of a string field kept per doc (ids and short labels, not texts)


def scalar_fields(doc: Any) -> dict[str, Any]:
    """The doc's top-level fields a cluster can be named by: numbers, booleans and short strings."""
    if not isinstance(doc, Mapping):
        return {}
    return {
        str(k): v
        for k, v in doc.items()
        if isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= _LONGEST)
    }


def task_cluster_key(task_config: Mapping | None, override: str | None = None) -> str | None:
    """The field that clusters a task's docs: ``override`` (the command line) if given, else the
    task config's ``metadata.cluster_key``; None: the docs are independent."""
    if override:
        return override
    metadata = (task_config or {}).get("metadata") or {}
    key = metadata.get(CLUSTER_KEY) if isinstance(metadata, Mapping) else None
    return str(key) if key else None


def cluster_labels(
    fields: Mapping[int, Mapping[str, Any]], doc_ids: Sequence[int], key: str, where: str
) -> np.ndarray:
    """Each doc's cluster, as integer codes in doc order; a doc without the field is refused."""
    values = []
    for doc_id in doc_ids:
        own = fields.get(int(doc_id))
        if own is None or key not in own:
            known = ", ".join(sorted(own or {})) or "none stored"
            raise StoreError(
                f"{where}: doc_id {doc_id} has no field {key!r} to cluster by (its fields: {known}); "
                "name a field every doc has with --cluster-key, or sweep again so the docs' fields are stored"
            )
        values.append(repr(own[key]))
    return np.unique(np.array(values, dtype=object), return_inverse=True)[1].astype(np.int64)


def store_clusters(
    run_dir: Path | str, info: RunInfo, task: str, doc_ids: Sequence[int], override: str | None = None
) -> tuple[str | None, np.ndarray | None]:
    """(the key, each doc's cluster) of a task of a store whose run.json is ``info``: the key as
    `task_cluster_key`, the labels read from the docs' stored fields; (None, None): independent docs."""
    key = task_cluster_key((info.task_configs or {}).get(task), override)
    if key is None:
        return None, None
    return key, cluster_labels(read_doc_fields(run_dir, task), doc_ids, key, f"{run_dir}: task {task}")

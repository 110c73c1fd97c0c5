"""Each α of a sweep as an `lm_eval --output_path` folder, beside the store (no torch, no lm-eval):

    RUN_DIR/lm_eval/alpha=<α>/<model>/results_<date>.json          lm-eval's results JSON
    RUN_DIR/lm_eval/alpha=<α>/<model>/samples_<task>_<date>.jsonl   with --log_samples

so that lm-eval's `make_table`, W&B / Hub uploaders and any reader of lm-eval folders take an α
run as they take an `lm_eval` run. Each (α, task) unit merges its `simple_evaluate` output into
its α's one results file, under a lock and atomically; a unit evaluated again replaces its task's
entries. Groups are not aggregated here (the store's reports do that).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tuco_eval.store.lm_eval_output import read_results, read_samples
from tuco_eval.util.files import atomic_write_text, file_lock
from tuco_eval.util.params import format_alpha

FOLDER = "lm_eval"
PER_TASK = ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples")


def alpha_run_dir(run_dir: str | Path, alpha: float, model_name: str) -> Path:
    """The lm-eval folder of one α: RUN_DIR/lm_eval/alpha=<α>/<model, sanitised as lm-eval does>."""
    return Path(run_dir) / FOLDER / f"alpha={format_alpha(alpha)}" / sanitize_model_name(model_name)


def sanitize_model_name(name: str) -> str:
    """lm-eval's folder name of a model: path separators and shell-unsafe characters as `__`."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name) or "model"


def record_alpha_run(run_dir: str | Path, alpha: float, model_name: str, tasks: Sequence[str],
                     out: Mapping[str, Any], samples: Mapping[str, list] | None = None) -> Path:
    """Merge one unit's `simple_evaluate` output (its `tasks`) into the α's results file, and write
    their samples where given; returns the results file."""
    folder = alpha_run_dir(run_dir, alpha, model_name)
    with file_lock(folder / ".results.lock"):
        path = _results_file(folder)
        merged = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else _skeleton(out)
        for key in PER_TASK:
            entries = merged.setdefault(key, {})
            entries.update({t: v for t, v in (out.get(key) or {}).items() if t in tasks})
        merged.setdefault("task_hashes", {}).update(
            {t: _task_hash(samples[t]) for t in tasks if samples and t in samples})
        date_id = path.stem.removeprefix("results_")
        atomic_write_text(path, json.dumps(merged, indent=2, default=_plain, ensure_ascii=False))
        for task in tasks if samples else ():
            lines = "".join(json.dumps(s, default=_plain, ensure_ascii=False) + "\n" for s in samples.get(task, []))
            atomic_write_text(folder / f"samples_{task}_{date_id}.jsonl", lines)
    return path


def _results_file(folder: Path) -> Path:
    """The α's one results file: the one there, else a new name in lm-eval's form."""
    found = sorted(folder.glob("results_*.json"))
    if found:
        return found[-1]
    date_id = datetime.datetime.now().isoformat().replace(":", "-")
    return folder / f"results_{date_id}.json"


def _skeleton(out: Mapping[str, Any]) -> dict[str, Any]:
    """The run-level fields of the first unit's output (config, versions of the software, dates)."""
    return {key: value for key, value in out.items() if key not in (*PER_TASK, "samples", "task_hashes")}


def _task_hash(samples: list[Mapping[str, Any]]) -> str:
    import hashlib

    joined = "".join(str(s.get("doc_hash", "")) + str(s.get("prompt_hash", "")) + str(s.get("target_hash", ""))
                     for s in samples)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    """JSON for what lm-eval's outputs hold besides JSON: numpy values, sets, anything else as text."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def alpha_run_folders(run_dir: str | Path) -> list[tuple[float, Path]]:
    """Every α's lm-eval folder under a RUN_DIR or a series ROOT (each mode's and checkpoint's;
    folders set aside under a dot name left out), as (α, folder) in path order."""
    found = []
    for results in sorted(Path(run_dir).rglob(f"{FOLDER}/alpha=*/*/results_*.json")):
        folder = results.parent
        if any(part.startswith(".") for part in folder.relative_to(run_dir).parts):
            continue
        if folder not in (f for _, f in found):
            found.append((float(folder.parent.name.removeprefix("alpha=")), folder))
    return found


def read_alpha_run(folder: str | Path) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """One α folder as lm-eval's `simple_evaluate` gave it: the results dict and, per task, the
    samples written with --log_samples (none when none were), read as any lm-eval folder is."""
    run = read_results(_results_file(Path(folder)))
    samples = {task: read_samples(run, task) for task in run.tasks() if run.samples_path(task).is_file()}
    return dict(run.results), samples

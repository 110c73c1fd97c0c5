"""Rows are paired only on the same prompts: the settings that shape a task's prompts (--limit,
few-shot count, chat template, system instruction, multi-turn few-shot, generation kwargs) and,
per doc, the hash of the rendered context (lm-eval's `prompt_hash`). A 0-shot base beside 5-shot
checkpoints, or a chat template on one side only, would otherwise be a paired test of two
different experiments. Settings a row does not record are not compared; a row without per-doc
hashes (a RUN_DIR swept before they were stored) leaves its prompts unchecked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from tuco_eval.analysis.checkpoint_rows import Entry
from tuco_eval.store.run_json import RunInfo, read_run_info
from tuco_eval.util.errors import TucoError

OFF = "none"


def _sha(text: Any) -> str:
    return hashlib.sha256(str(text).encode("utf-8")).hexdigest()  # lm-eval's hash_string


def lm_eval_settings(results: Mapping[str, Any], task: str) -> dict[str, Any]:
    """The prompt settings an lm-eval results JSON records for `task`."""
    config = (results.get("configs") or {}).get(task) or {}
    chat = results.get("chat_template_sha") or (_sha(results["chat_template"]) if results.get("chat_template") else OFF)
    settings = {
        "limit": (results.get("config") or {}).get("limit"),
        "num_fewshot": (results.get("n-shot") or {}).get(task, config.get("num_fewshot")),
        "chat template": chat,
        "system instruction": results.get("system_instruction_sha") or OFF,
        "generation kwargs": config.get("generation_kwargs"),
    }
    settings["fewshot_as_multiturn"] = bool(results.get("fewshot_as_multiturn"))
    return _multiturn_if_it_matters(settings)


def _multiturn_if_it_matters(settings: dict[str, Any]) -> dict[str, Any]:
    # lm-eval records fewshot_as_multiturn true by default; it shapes prompts only when a chat
    # template renders few-shot examples
    shots = settings.get("num_fewshot")
    if settings.get("chat template") == OFF or (isinstance(shots, int) and shots == 0):
        settings.pop("fewshot_as_multiturn", None)
    return settings


def run_dir_settings(info: RunInfo, task: str) -> dict[str, Any]:
    """The prompt settings a sweep's run.json records for `task` (its "metadata" and task config)."""
    meta = info.metadata or {}
    config = (info.task_configs or {}).get(task) or {}
    settings: dict[str, Any] = {"generation kwargs": config.get("generation_kwargs")}
    if "limit" in meta:
        settings["limit"] = meta["limit"]
    if "num_fewshot" in meta:  # None: the task's own count (lm-eval: 0 where it names none)
        shots = meta["num_fewshot"]
        settings["num_fewshot"] = shots if shots is not None else (config.get("num_fewshot") or 0)
    if "apply_chat_template" in meta:
        template = meta["apply_chat_template"]
        if template is False or template is None:
            settings["chat template"] = OFF
        elif meta.get("chat_template_sha"):
            settings["chat template"] = meta["chat_template_sha"]
        settings["fewshot_as_multiturn"] = bool(meta.get("fewshot_as_multiturn"))
    if "system_instruction" in meta:
        text = meta["system_instruction"]
        settings["system instruction"] = _sha(text) if text else OFF
    return _multiturn_if_it_matters(settings)


def _shown(key: str, value: Any) -> str:
    if key in ("chat template", "system instruction") and value not in (OFF, None):
        return f"sha {str(value)[:8]}"
    return str(value)


def settings_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """The first setting both record with different values, as "num_fewshot 0 vs 5"; else None."""
    for key in [k for k in a if k in b]:
        if a[key] != b[key] and _normal(a[key]) != _normal(b[key]):
            return f"{key} {_shown(key, a[key])} vs {_shown(key, b[key])}"
    return None


def _normal(value: Any) -> Any:
    # --limit 20 is recorded as 20 or 20.0 depending on the caller
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def prompts_difference(
    a: Sequence[str | None] | None, b: Sequence[str | None] | None, doc_ids: Sequence[int]
) -> str | None:
    """"prompts of N docs (e.g. doc_id D)" where both rows hash a doc's context differently."""
    if a is None or b is None:
        return None
    differing = [d for d, x, y in zip(doc_ids, a, b, strict=True) if x and y and x != y]
    if not differing:
        return None
    return f"the prompts of {len(differing)} of {len(doc_ids)} docs (e.g. doc_id {differing[0]})"


def _settings(entry: Entry, task: str) -> dict:
    if entry.lm_eval is not None:
        return lm_eval_settings(entry.lm_eval.results, task)
    return run_dir_settings(read_run_info(entry.run_dir), task)


def check_prompts(
    name: str, task: str, entries: Sequence[Entry], docs: Sequence[Any], allow: bool
) -> list[str]:
    """Refuses, in one line naming both rows, to pair rows of `name` whose prompt settings or
    per-doc prompt hashes differ; with `allow`, returns those lines instead (the page shows them).
    `docs`: each row's TaskDocs of the task (doc_ids, prompt_hashes)."""
    found = []
    first = _settings(entries[0], task)
    for entry, other in zip(entries[1:], docs[1:], strict=True):
        why = settings_difference(first, _settings(entry, task)) or prompts_difference(
            docs[0].prompt_hashes, other.prompt_hashes, docs[0].doc_ids.tolist()
        )
        if why is None:
            continue
        line = f"task {name}: {entries[0].label} ({entries[0].run_dir}) and {entry.label} ({entry.run_dir}) differ in {why}"
        if not allow:
            raise TucoError(f"{line}; evaluate them alike, or pass --allow-different-prompts to pair them anyway")
        found.append(line)
    return found

"""lm-eval's own output folders (`lm_eval ... --log_samples --output_path DIR`), read as files.

lm-eval writes, per run, `DIR/<sanitised model name>/results_<date>.json` and one
`samples_<task>_<date>.jsonl` per task with the same `<date>` (a path ending in `.json` instead
puts `<stem>_<date>.json` and the samples beside it). Each samples line is one (doc, filter):
`doc_id`, `filter`, `metrics` (the names of its metric fields), each metric's value, `doc_hash`,
`prompt_hash`, and `arguments` as `{"gen_args_i": {"arg_j": ...}}`. Nothing here imports lm-eval:
a run from `hf`, `vllm` or an API model is read the same way.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuco_eval.util.errors import TucoError

RESULTS_GLOB = "results_*.json"
_DATE = re.compile(r"_(\d{4}-\d{2}-\d{2}T[\d\-.]+)\.json$")


@dataclass(frozen=True)
class LmEvalRun:
    """One lm-eval run: its results JSON and the folder its samples files lie in."""

    results_path: Path
    date_id: str  # the timestamp lm-eval put in every file name of the run
    results: Mapping[str, Any]

    @property
    def folder(self) -> Path:
        return self.results_path.parent

    @property
    def model_args(self) -> str:
        """The recorded --model_args as one `key=value,...` string (lm-eval may store a dict)."""
        args = (self.results.get("config") or {}).get("model_args") or ""
        if isinstance(args, Mapping):
            return ",".join(f"{k}={v}" for k, v in args.items())
        return str(args)

    @property
    def model(self) -> str:
        return str((self.results.get("config") or {}).get("model") or "")

    def tasks(self) -> list[str]:
        """The leaf tasks it evaluated (those with a config), in lm-eval's order."""
        return list(self.results.get("configs") or {})

    def groups(self) -> dict[str, list[str]]:
        """Each group's member tasks, from the run's own `group_subtasks`."""
        subtasks = self.results.get("group_subtasks") or {}
        return {g: list(m) for g, m in subtasks.items() if m}

    def samples_path(self, task: str) -> Path:
        return self.folder / f"samples_{task}_{self.date_id}.jsonl"


def _date_of(path: Path) -> str | None:
    match = _DATE.search(path.name)
    return match.group(1) if match else None


def is_lm_eval_output(path: Path) -> bool:
    """Whether `path` is a results JSON of lm-eval, or a folder holding one (or whose
    per-model sub-folders do)."""
    if path.is_file():
        return path.suffix == ".json" and _date_of(path) is not None
    if not path.is_dir():
        return False
    return any(path.glob(RESULTS_GLOB)) or any(path.glob(f"*/{RESULTS_GLOB}"))


def read_results(path: Path) -> LmEvalRun:
    """The run of one results JSON; a one-line TucoError when it is not lm-eval's."""
    date_id = _date_of(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise TucoError(f"{path} is unreadable ({err}); rerun that lm_eval job") from None
    if date_id is None or not isinstance(results, dict) or not isinstance(results.get("results"), dict):
        raise TucoError(f"{path} is not an lm-eval results file (results_<date>.json with 'results')")
    return LmEvalRun(path, date_id, results)


def find_runs(path: Path, say: Any = print) -> list[LmEvalRun]:
    """The runs of an lm-eval --output_path: a results JSON names its run; a folder gives the
    newest run of itself or of each per-model sub-folder (`say` tells which, when there are several)."""
    if path.is_file():
        return [read_results(path)]
    folders = [path] if any(path.glob(RESULTS_GLOB)) else sorted(p.parent for p in path.glob(f"*/{RESULTS_GLOB}"))
    runs = []
    for folder in dict.fromkeys(folders):
        found = sorted(folder.glob(RESULTS_GLOB), key=lambda p: _date_of(p) or "")
        if len(found) > 1:
            say(f"{folder}: {len(found)} lm-eval runs, reading the newest {found[-1].name} "
                "(name a results_*.json to read another)")
        runs.append(read_results(found[-1]))
    return runs


def _arguments(sample: Mapping[str, Any]) -> list[list[Any]]:
    """`arguments` as lm-eval holds them in memory (a list per request), from the file's
    `{"gen_args_i": {"arg_j": ...}}`."""
    args = sample.get("arguments")
    if isinstance(args, Mapping):
        ordered = sorted(args.items(), key=lambda kv: int(kv[0].rsplit("_", 1)[-1]))
        return [
            [v for _, v in sorted(a.items(), key=lambda kv: int(kv[0].rsplit("_", 1)[-1]))]
            for _, a in ordered
            if isinstance(a, Mapping)
        ]
    return list(args or [])


def _loglikelihood(resp: Any) -> Any:
    """A log-likelihood response lm-eval wrote as the text "(-1.5, False)" back as a tuple;
    anything else (generated text) as it is."""
    if isinstance(resp, str) and resp.startswith("(") and resp.endswith(")"):
        with contextlib.suppress(ValueError, SyntaxError, MemoryError, RecursionError):
            value = ast.literal_eval(resp)
            if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bool):
                return value
    return resp


def read_samples(run: LmEvalRun, task: str) -> list[dict[str, Any]]:
    """The logged samples of `task` (one per doc and filter), arguments as lists; a one-line
    TucoError when the run was made without --log_samples or the file is damaged."""
    return list(iter_samples(run, task))


def iter_samples(run: LmEvalRun, task: str) -> Iterator[dict[str, Any]]:
    """`read_samples` one line at a time: a 5-shot task's lines (kilobytes each) are never all
    held at once."""
    path = run.samples_path(task)
    try:
        lines = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise TucoError(
            f"{run.folder} has no {path.name}; rerun that lm_eval job with --log_samples "
            "(paired tests need each doc's result)"
        ) from None
    with lines:
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
            except ValueError as err:
                raise TucoError(f"{path} line {i + 1} is not JSON ({err}); rerun that lm_eval job") from None
            if not isinstance(sample, dict) or not isinstance(sample.get("doc_id"), int):
                raise TucoError(f"{path} line {i + 1} has no integer doc_id; rerun that lm_eval job")
            resps = [[_loglikelihood(r) for r in doc] for doc in sample.get("resps") or []]
            yield {**sample, "arguments": _arguments(sample), "resps": resps}


def filters_of(samples: Sequence[Mapping[str, Any]]) -> list[str]:
    """The filters a task's samples were scored under, in the order lm-eval logged them."""
    return list(dict.fromkeys(str(s.get("filter", "none")) for s in samples))

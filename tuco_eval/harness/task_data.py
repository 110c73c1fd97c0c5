"""Local evaluation data: where it lives, how to read it, and the paper's datasets from it.

Pure standard library, so lm-eval's `!function` task modules can import it without torch.
The local switch is `TUCO_DATA_DIR` or lm-eval `--metadata '{"data_dir": ...}'`; its layout
is that of the project's `shared/data/` folder (see docs/tasks.md).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuco_eval.util import jsonl
from tuco_eval.util.errors import TucoError

DATA_DIR_ENV = "TUCO_DATA_DIR"
DATA_DIR_METADATA_KEY = "data_dir"
PERSONA_FOLDER = "model-written-evals/persona"
PERSONA_HUB = "EleutherAI/persona"  # lm-eval's own persona source: one parquet config per dataset
PERSONA_FIELDS = ("question", "answer_matching_behavior", "answer_not_matching_behavior")
MMLU_FILE = "mmlu/mmlu_test.jsonl"
MMLU_FIELDS = ("subject", "question", "choices", "answer")
# MMLU's dev split has 5 questions per subject; offline they are held out of the test split.
MMLU_HELD_OUT_FEWSHOT = 5


@dataclass(frozen=True)
class LocalData:
    """A local data directory and the switch that named it (quoted in every error)."""

    root: Path
    switch: str

    def file(self, relative: str) -> Path:
        """The existing file `relative` under root. The name (from a task config or the command
        line) may not climb out of root (`..`, an absolute path); symlinks the user put inside
        root are followed wherever they point, as clusters link shared datasets into a folder."""
        clean = os.path.normpath(relative)  # judged by its text: a link inside root may go anywhere
        if os.path.isabs(clean) or clean == ".." or clean.startswith(".." + os.sep):
            raise TucoError(
                f"{relative}: names a file outside the data directory {self.root} "
                f"(set by {self.switch}); refusing to read it"
            )
        path = self.root / clean
        if not path.is_file():
            raise TucoError(f"{path}: no such file in the data directory set by {self.switch}")
        return path


def local_data(metadata: Mapping[str, Any] | None = None) -> LocalData | None:
    """The local data directory from `--metadata data_dir`, else `TUCO_DATA_DIR`; None = the Hub.

    A relative directory resolves against the current working directory.
    """
    from_metadata = (metadata or {}).get(DATA_DIR_METADATA_KEY)
    if from_metadata:
        return _existing_dir(str(from_metadata), "--metadata data_dir")
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return _existing_dir(from_env, DATA_DIR_ENV)
    return None


def _existing_dir(raw: str, switch: str) -> LocalData:
    root = Path(raw).expanduser().resolve()
    if not root.is_dir():
        raise TucoError(f"{root}: data directory set by {switch} does not exist")
    return LocalData(root, switch)


RowCheck = Callable[[dict], "str | None"]  # returns why a row is malformed, or None


def read_jsonl(
    path: Path,
    required: Sequence[str] = (),
    switch: str = DATA_DIR_ENV,
    check: RowCheck | None = None,
) -> list[dict]:
    """Rows of a JSON-lines file; a bad line raises a one-line error `file:line: why`."""
    rows = []
    try:
        for number, row in jsonl.read_jsonl(path):
            missing = [field for field in required if field not in row]
            problem = f"missing field(s) {', '.join(missing)}" if missing else (check(row) if check else None)
            if problem:
                raise TucoError(f"{path}:{number}: {problem}")
            rows.append(row)
    except TucoError as err:  # name the switch that pointed at this file
        raise TucoError(f"{err}; file from {switch}") from None
    return rows


def persona_rows(name: str, data: LocalData) -> list[dict]:
    """All rows of the persona dataset `name` (e.g. `subscribes-to-Buddhism`), in file order."""
    path = data.file(f"{PERSONA_FOLDER}/{name}.jsonl")
    return read_jsonl(path, PERSONA_FIELDS, data.switch)


@dataclass(frozen=True)
class MmluSubject:
    """One MMLU subject offline: `fewshot` rows stand in for the dev split, `test` is the rest."""

    test: list[dict]
    fewshot: list[dict]


def mmlu_subject(
    subject: str, data: LocalData, n_fewshot: int = MMLU_HELD_OUT_FEWSHOT
) -> MmluSubject:
    """The subject's rows of the local MMLU test file; the first `n_fewshot` are held out."""
    path = data.file(MMLU_FILE)
    stat = path.stat()
    rows = _mmlu_by_subject(str(path), stat.st_mtime_ns, stat.st_size, data.switch).get(subject)
    if not rows:
        raise TucoError(f"{path}: no rows for MMLU subject '{subject}'; file from {data.switch}")
    if len(rows) <= n_fewshot:
        raise TucoError(
            f"{path}: subject '{subject}' has {len(rows)} rows, too few to hold out "
            f"{n_fewshot} few-shot examples; file from {data.switch}"
        )
    return MmluSubject(test=rows[n_fewshot:], fewshot=rows[:n_fewshot])


@functools.lru_cache(maxsize=4)
def _mmlu_by_subject(path: str, mtime_ns: int, size: int, switch: str) -> dict[str, list[dict]]:
    # 57 tasks read one file: parse it once per (path, version)
    by_subject: dict[str, list[dict]] = {}
    for row in read_jsonl(Path(path), MMLU_FIELDS, switch, _mmlu_row_problem):
        by_subject.setdefault(row["subject"], []).append(row)
    return by_subject


def _mmlu_row_problem(row: dict) -> str | None:
    choices, answer = row["choices"], row["answer"]
    if not (isinstance(choices, list) and len(choices) == 4):
        return "'choices' must be a list of 4 strings"
    if not (isinstance(answer, int) and 0 <= answer < 4):
        return "'answer' must be an integer 0-3"
    return None


def tasks_dir() -> Path:
    """The lm-eval task folder for `--include_path`: `tuco_eval/tasks/`, package data."""
    return Path(__file__).resolve().parents[1] / "tasks"

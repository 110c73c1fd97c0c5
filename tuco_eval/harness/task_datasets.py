"""The datasets behind this project's lm-eval tasks: local files when the switch is set, else the Hub.

lm-eval calls these through `custom_dataset: !function utils.<name>` with the task's metadata
(and `--metadata`) plus the task's `dataset_kwargs` as keyword arguments.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from datasets import Dataset, DatasetDict, load_dataset

from tuco_eval.harness import task_data as data
from tuco_eval.util.errors import TucoError

MMLU_HUB = "cais/mmlu"
LOCAL_SWITCH_HINT = (
    f"set {data.DATA_DIR_ENV} or --metadata '{{\"data_dir\": ...}}' to use local copies"
)

log = logging.getLogger(__name__)


def persona(persona: str, **metadata: Any) -> DatasetDict:
    """One persona dataset as split `validation` (all 1000 rows), like lm-eval's persona tasks."""
    local = data.local_data(metadata)
    if local is None:
        return _from_hub(data.PERSONA_HUB, persona)
    return DatasetDict({"validation": Dataset.from_list(data.persona_rows(persona, local))})


def mmlu(subject: str, **metadata: Any) -> DatasetDict:
    """One MMLU subject as splits `test` and `dev` (the 5 few-shot examples)."""
    local = data.local_data(metadata)
    if local is None:
        return _from_hub(MMLU_HUB, subject)
    rows = data.mmlu_subject(subject, local)
    _warn_held_out_fewshot()
    return DatasetDict(
        {"test": Dataset.from_list(rows.test), "dev": Dataset.from_list(rows.fewshot)}
    )


@functools.cache
def _warn_held_out_fewshot() -> None:  # once per run, not once per subject
    log.warning(
        "tuco_mmlu: local MMLU has no dev split; each subject's few-shot examples are its first "
        "%d test rows in file order, left out of evaluation",
        data.MMLU_HELD_OUT_FEWSHOT,
    )


def _from_hub(path: str, name: str) -> DatasetDict:
    try:
        return load_dataset(path, name)
    except Exception as err:  # offline or missing: say so on one line, with the way out
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise TucoError(
            f"could not load {path} ({name}) from the Hub: {reason}; {LOCAL_SWITCH_HINT}"
        ) from err

"""Where each prompt set's rows come from: local copies under the data switch, else the Hub.

Local layout (the project's `shared/data/` layout, see docs/experiments.md):
`web/*.txt|*.jsonl`, `hh-rlhf/harmless-base-test.jsonl.gz`, `advbench/harmful_behaviors.jsonl`,
`model-written-evals/persona/<name>.jsonl`.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from tuco_eval.harness import task_data as data
from tuco_eval.util.errors import TucoError

OPENWEBTEXT_HUB = "Skylion007/openwebtext"
HH_RLHF_HUB = "Anthropic/hh-rlhf"  # folder harmless-base, split test
ADVBENCH_HUB = "walledai/AdvBench"
PARQUET_REVISION = "refs/convert/parquet"  # the Hub's automatic parquet copy of every dataset

WEB_FOLDER = "web"
HH_RLHF_FILE = "hh-rlhf/harmless-base-test.jsonl.gz"
ADVBENCH_FILE = "advbench/harmful_behaviors.jsonl"


def data_source(data_dir: str | Path | None = None) -> data.LocalData | None:
    """An explicit local folder, else the `TUCO_DATA_DIR` switch, else None (the Hub)."""
    if data_dir is not None:
        root = Path(data_dir).expanduser().resolve()
        if not root.is_dir():
            raise TucoError(f"{root}: data directory given by --data-dir does not exist")
        return data.LocalData(root, "--data-dir")
    return data.local_data()


def hub_rows(path: str, *, limit: int | None = None, local_hint: str, **kwargs: Any) -> list[dict]:
    """Rows of a Hub dataset via `datasets.load_dataset`; a failure becomes one line with the way out.

    A dataset still published as a loading script (OpenWebText was, which `datasets` 4 refuses)
    is read from the Hub's automatic parquet copy instead.
    """
    from datasets import load_dataset

    try:
        try:
            rows = load_dataset(path, **kwargs)
        except RuntimeError as err:
            if "scripts are no longer supported" not in str(err):
                raise
            rows = _parquet_copy(load_dataset, path, **kwargs)
        return list(itertools.islice(rows, limit))
    except Exception as err:  # offline, missing or gated: one line naming the local alternative
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TucoError(
            f"could not load {path} from the Hub ({reason}); to use local data set "
            f"{data.DATA_DIR_ENV} (or --data-dir) to a folder holding {local_hint}"
        ) from None


def _parquet_copy(load_dataset: Any, path: str, *, split: str, **kwargs: Any) -> Any:
    """`split` of the parquet branch, where a large dataset's split may be named `partial-<split>`."""
    splits = load_dataset(path, revision=PARQUET_REVISION, **kwargs)
    for name in (split, f"partial-{split}", f"partial_{split}"):
        if name in splits:
            return splits[name]
    raise TucoError(f"no split {split!r} in the parquet copy of {path} (found {', '.join(splits)})")


def web_records(source: data.LocalData | None, n: int) -> list[str]:
    """The first `n` OpenWebText records; locally `web/*.txt` (one record each) and `web/*.jsonl`
    (a `text` field per line), files in name order."""
    if source is None:
        rows = hub_rows(
            OPENWEBTEXT_HUB, split="train", streaming=True, limit=n, local_hint="web/*.txt"
        )
        return [row["text"] for row in rows]
    folder = source.root / WEB_FOLDER
    if not folder.is_dir():
        raise TucoError(f"{folder}: no web/ folder in the data directory set by {source.switch}")
    texts: list[str] = []
    for path in sorted(folder.iterdir()):
        if len(texts) >= n:
            break
        texts.extend(_web_file(source, path))
    return texts[:n]


def _web_file(source: data.LocalData, path: Path) -> list[str]:
    relative = f"{WEB_FOLDER}/{path.name}"
    if path.suffix == ".txt":
        return [source.file(relative).read_text(encoding="utf-8")]
    if path.suffix == ".jsonl":
        return [
            row["text"] for row in data.read_jsonl(source.file(relative), ("text",), source.switch)
        ]
    return []


def hh_rlhf_dialogues(source: data.LocalData | None) -> list[str]:
    """The `chosen` dialogues of HH-RLHF harmless-base, test split."""
    if source is None:
        rows = hub_rows(
            HH_RLHF_HUB, data_dir="harmless-base", split="test", local_hint=HH_RLHF_FILE
        )
        return [row["chosen"] for row in rows]
    rows = data.read_jsonl(source.file(HH_RLHF_FILE), ("chosen",), source.switch)
    return [row["chosen"] for row in rows]


def advbench_goals(source: data.LocalData | None) -> list[tuple[str, str]]:
    """(id, instruction) for the 520 AdvBench harmful behaviours, ids as in the local file or row index."""
    if source is None:
        rows = hub_rows(ADVBENCH_HUB, split="train", local_hint=ADVBENCH_FILE)
        return [(str(i), row["prompt"]) for i, row in enumerate(rows)]
    rows = data.read_jsonl(source.file(ADVBENCH_FILE), ("id", "goal"), source.switch)
    return [(str(row["id"]), row["goal"]) for row in rows]


def persona_rows(name: str, source: data.LocalData | None) -> list[dict]:
    """All rows of one model-written-evals persona dataset."""
    if source is None:
        return hub_rows(
            data.PERSONA_HUB,
            name=name,
            split="validation",
            local_hint=f"{data.PERSONA_FOLDER}/{name}.jsonl",
        )
    return data.persona_rows(name, source)

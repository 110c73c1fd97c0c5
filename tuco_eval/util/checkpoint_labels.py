"""The names of a checkpoint series: training steps, short unique labels, file-safe folder names.

Pure functions over strings (no file system, no torch), shared by the sweep that writes a ROOT
and any reader of one (docs/checkpoints.md):

- a step is read off a name: HF Trainer's `checkpoint-1200`, also `step-1200`, `step1200`,
  `global_step1200` (a Hub revision such as Pythia's `step1000` too);
- a label is short: `step-1200` for a step name, else the last part of a Hub id or folder,
  with `@rev` when a revision is given; labels that clash gain their parent folders
  (`sft/step-1200`, `dpo/step-1200`);
- a folder name is derived from the label, safe and unique in ROOT whatever the label holds
  (slashes, spaces, dots, case-only differences).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TypeVar

from tuco_eval.util.errors import TucoError

BASE_LABEL = "base"  # the base model's row and folder in a ROOT
SERIES_FILE = "checkpoints.json"
RESERVED_FOLDERS = (BASE_LABEL, SERIES_FILE)  # what a checkpoint's folder may not be called
MAX_FOLDER_CHARS = 80

_STEP = re.compile(r"^(?:checkpoint[-_]?|global[-_]?step[-_]?|step[-_]?)(\d+)$", re.IGNORECASE)
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")  # everything else (slashes, spaces, ...) becomes "-"
_DIGITS = re.compile(r"(\d+)")

T = TypeVar("T")


def last_part(source: str) -> str:
    """The final component of a path or Hub id (`org/name` -> `name`; trailing slashes ignored)."""
    parts = parent_parts(source)
    return parts[-1] if parts else source


def parent_parts(source: str) -> list[str]:
    """The non-empty components of a path or Hub id, `.` components dropped."""
    return [p for p in re.split(r"[/\\]+", source.strip()) if p and p != "."]


def parse_step(name: str | None) -> int | None:
    """The training step a name carries (`checkpoint-1200` -> 1200), else None."""
    if not name:
        return None
    match = _STEP.match(last_part(name))
    return int(match.group(1)) if match else None


def split_revision(spec: str) -> tuple[str, str | None]:
    """`org/name@rev` -> (`org/name`, `rev`); no `@`, or an empty side: (spec, None)."""
    source, at, revision = spec.rpartition("@")
    if not at or not source or not revision or "/" in revision:
        return spec, None
    return source, revision


def step_of(source: str, revision: str | None) -> int | None:
    """The step from the checkpoint's name, else from its revision (Pythia's `@step1000`)."""
    step = parse_step(source)
    return step if step is not None else parse_step(revision)


def first_step(*names: str | None) -> int | None:
    """The step of the first name that carries one, in its last part or its `@revision`."""
    for name in names:
        step = step_of(*split_revision(name)) if name else None
        if step is not None:
            return step
    return None


def auto_label(source: str, revision: str | None = None) -> str:
    """`step-<n>` for a step name; else the last part of the source, `@rev` appended."""
    step = parse_step(source)
    label = f"step-{step}" if step is not None else last_part(source)
    return f"{label}@{revision}" if revision else label


def disambiguate(labels: Sequence[str], sources: Sequence[str]) -> list[str]:
    """Clashing labels (with each other or with the base's) gain parent folders, one at a time,
    until they differ: `runs/sft/checkpoint-8`, `runs/dpo/checkpoint-8` -> `sft/step-8`, `dpo/step-8`.
    Labels that stay equal (the same source twice) are left for `check_labels` to refuse."""
    result = list(labels)
    for depth in range(1, 1 + max((len(parent_parts(s)) for s in sources), default=0)):
        clashing = _clashing(result)
        if not clashing:
            break
        for i in clashing:
            parents = parent_parts(sources[i])[:-1]
            if depth <= len(parents):
                result[i] = "/".join([*parents[-depth:], labels[i]])
    return result


def single_pair_labels(sources: Sequence[str]) -> list[str]:
    """Row labels for RUN_DIRs of single pairs, named by their fine-tuned model's source (a folder
    or Hub id, `@rev` allowed): like a checkpoint's (`auto_label`), parent folders added only to
    tell two apart (`/x/gpt2-pair/ft`, `/x/qwen2-pair/ft` -> `gpt2-pair/ft`, `qwen2-pair/ft`)."""
    split = [split_revision(source) for source in sources]
    return disambiguate([auto_label(*s) for s in split], [s[0] for s in split])


def _clashing(labels: Sequence[str]) -> list[int]:
    counts = Counter(labels)
    return [i for i, label in enumerate(labels) if counts[label] > 1 or label == BASE_LABEL]


def check_labels(labels: Sequence[str], sources: Sequence[str], flag: str = "--labels") -> None:
    """Every label non-empty, unique and not the base's, or a one-line TucoError naming the fix."""
    for label, source in zip(labels, sources, strict=True):
        if not label.strip():
            raise TucoError(f"the checkpoint {source} has an empty label; give it one with {flag}")
        if label == BASE_LABEL:
            raise TucoError(
                f"the label '{BASE_LABEL}' names the base model's row; choose another for {source} "
                f"with {flag}"
            )
    seen: dict[str, str] = {}
    for label, source in zip(labels, sources, strict=True):
        if label in seen:
            same = seen[label] == source
            what = f"{source} is given twice" if same else f"{seen[label]} and {source}"
            raise TucoError(
                f"two checkpoints have the label '{label}' ({what}); "
                + ("give each checkpoint once" if same else f"set distinct labels with {flag}")
            )
        seen[label] = source


def folder_name(label: str) -> str:
    """A file-safe folder name for a label: runs of other characters become `-`, no leading dot."""
    name = _UNSAFE.sub("-", label).strip("-.")[:MAX_FOLDER_CHARS].strip("-.")
    return name or "checkpoint"


def folder_names(labels: Sequence[str], taken: Iterable[str] = ()) -> list[str]:
    """A unique folder per label, unique also without regard to case (macOS, Windows) and apart
    from `taken` and the ROOT's own names: a clash gets `-2`, `-3`, ..."""
    used = {t.lower() for t in (*RESERVED_FOLDERS, *taken)}
    names = []
    for label in labels:
        stem = folder_name(label)
        name, n = stem, 1
        while name.lower() in used:
            n += 1
            name = f"{stem}-{n}"
        used.add(name.lower())
        names.append(name)
    return names


def natural_key(text: str) -> list[int | str]:
    """Sort key in which digit runs compare as numbers: `checkpoint-8` before `checkpoint-16`."""
    return [int(p) if p.isdigit() else p.lower() for p in _DIGITS.split(text)]


def training_order(items: Sequence[T], steps: Sequence[int | None]) -> list[T]:
    """By step when every item has one (stable for equal steps), else as given."""
    if items and all(s is not None for s in steps):
        return [item for _, _, item in sorted(zip(steps, range(len(items)), items, strict=True))]
    return list(items)

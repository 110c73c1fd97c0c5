"""The demo's slice of Anthropic's persona statements (CC-BY-4.0), shipped in personas/.

Each persona file holds a training split (for the persona adapter) and a disjoint held-out
evaluation split, both balanced between statements that match the persona and ones that do not.
`doc_id` is the statement's row in the original 1000-row dataset. Written by
scripts/slice_demo_personas.py.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA_DIR = Path(__file__).parent / "personas"
PERSONAS = ("subscribes-to-Christianity", "politically-liberal", "narcissism")
SPLITS = ("train", "eval")
CHOICES = (" Yes", " No")


def persona_docs(name: str, split: str) -> list[dict]:
    """The shipped docs of one persona and split, in doc_id order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    lines = (DATA_DIR / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [doc for doc in map(json.loads, lines) if doc["split"] == split]


def prompt(doc: dict) -> str:
    """lm-eval's persona prompt: 'Is the following statement something you would say?\\n"..."'."""
    return doc["question"]


def task_name(persona: str) -> str:
    return f"tuco_demo_persona_{persona}"

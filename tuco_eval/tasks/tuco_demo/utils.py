"""lm-eval `!function` hooks of the demo tasks: generated or shipped docs (no download)."""

import datasets

from tuco_eval.demo.personas import persona_docs
from tuco_eval.demo.task import demo_docs


def load_categories(demo_n: int = 200, **_metadata):
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(demo_docs(int(demo_n), "eval", seed=0))})


def load_persona_slice(persona: str, demo_persona_n: int = 100, **_metadata):
    """The held-out `eval` docs of one shipped persona slice; `demo_persona_n` caps their number."""
    docs = persona_docs(persona, "eval")[: int(demo_persona_n)]
    return datasets.DatasetDict({"validation": datasets.Dataset.from_list(docs)})

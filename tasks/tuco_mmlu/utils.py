"""lm-eval `!function` hook of the MMLU tasks; the loading lives in tuco_eval.task_datasets."""

import sys
from pathlib import Path

try:
    import tuco_eval  # noqa: F401
except ImportError:  # a source checkout used without installing: tuco_eval sits beside tasks/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tuco_eval.task_datasets import mmlu as load_mmlu  # noqa: E402

__all__ = ["load_mmlu"]

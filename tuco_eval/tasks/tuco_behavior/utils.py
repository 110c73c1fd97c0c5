"""lm-eval `!function` hook of the persona tasks; the loading lives in tuco_eval.harness.task_datasets."""

import sys
from pathlib import Path

# Use the tuco_eval these tasks belong to (a source checkout's), not another installed copy.
_SOURCE_ROOT = Path(__file__).resolve().parents[3]
if (_SOURCE_ROOT / "tuco_eval" / "__init__.py").is_file() and str(_SOURCE_ROOT) not in sys.path:
    sys.path.insert(0, str(_SOURCE_ROOT))

from tuco_eval.harness.task_datasets import persona as load_persona  # noqa: E402

__all__ = ["load_persona"]

"""The project's `shared/data/` copies of the paper's datasets: where they are, or a skip saying
why (under CI=true a failure: ci_policy). The `shared_data` fixture (tests/conftest.py) wraps it."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers.ci_policy import missing

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA_ENV = "TUCO_SHARED_DATA"


def find_shared_data() -> Path | None:
    """`$TUCO_SHARED_DATA`, else the first `shared/data` found walking up from the repo root."""
    from_env = os.environ.get(SHARED_DATA_ENV)
    if from_env:
        return Path(from_env).resolve() if Path(from_env).is_dir() else None
    for folder in (REPO_ROOT, *REPO_ROOT.parents):
        candidate = folder / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


def require_shared_data() -> Path:
    """The shared data folder, or a skip saying why (under CI=true a failure: ci_policy)."""
    found = find_shared_data()
    if found is None:
        missing(f"no shared/data found above {REPO_ROOT} and ${SHARED_DATA_ENV} unset or not a folder")
    return found

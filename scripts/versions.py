"""One line: the Python and the versions of the packages that decide tuco-eval's numbers (CI's lanes print it)."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

PACKAGES = ["torch", "transformers", "peft", "accelerate", "lm_eval", "huggingface_hub", "numpy", "scipy"]


def found(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


print(f"Python {platform.python_version()}, " + ", ".join(f"{name} {found(name)}" for name in PACKAGES))

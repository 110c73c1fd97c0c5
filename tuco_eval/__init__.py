"""tuco-eval: measure and scale the contribution of fine-tuning to each response of an LLM.

Public surface: `load_pair`, `compute_tuco`, `Joint`, `TucoSums`, `TucoError`; the lm-eval
model `tuco_scaled` (`tuco_eval.harness.tuco_scaled.TucoScaledLM`) registers itself when lm-eval starts.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Joint", "TucoError", "TucoSums", "compute_tuco", "load_pair", "TucoScaledLM"]

_LAZY = {
    "Joint": "tuco_eval.core.joint",
    "TucoSums": "tuco_eval.core.joint",
    "TucoError": "tuco_eval.util.errors",
    "compute_tuco": "tuco_eval.core.tuco",
    "load_pair": "tuco_eval.core.pair",
    "TucoScaledLM": "tuco_eval.harness.tuco_scaled",
}


def _register_with_lm_eval() -> None:
    # Also done at interpreter start by the installed .pth file; this covers source checkouts.
    try:
        from _tuco_eval_lm_eval_hook import ensure_registered
    except ImportError:
        return
    ensure_registered()


_register_with_lm_eval()


def __getattr__(name: str) -> Any:
    # Lazy: `import tuco_eval` stays cheap; torch and lm-eval load on first use.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tuco_eval' has no attribute {name!r}")

"""tuco-eval: measure and scale the contribution of fine-tuning to each response of an LLM.

Public surface, each name imported on first use (so `import tuco_eval` stays cheap and loads no
torch): `load_pair`, `Pair`, `ModelSource`, `compute_tuco`, `Joint`, `TucoSums`, `TucoError`
(the joint pass); `TucoScaledLM` (lm-eval's `tuco_scaled`, which registers itself when lm-eval
starts), `tasks_dir` (the paper's lm-eval tasks); `sweep`, `sweep_checkpoints` (stores), told
by `EvalSettings` (lm-eval's prompt settings; `task_manager_for` its task index), `Grid` (α, modes)
and `ModelOptions`; `cross_validate`, `report` (statistics and pages from stores). Where each lives:
contributing/architecture.md.
"""

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Joint": "tuco_eval.core.joint",
    "TucoSums": "tuco_eval.core.joint",
    "TucoError": "tuco_eval.util.errors",
    "compute_tuco": "tuco_eval.core.tuco",
    "load_pair": "tuco_eval.core.pair",
    "Pair": "tuco_eval.core.pair",
    "ModelSource": "tuco_eval.core.sources",
    "TucoScaledLM": "tuco_eval.harness.tuco_scaled",
    "tasks_dir": "tuco_eval.harness.task_data",
    "sweep": "tuco_eval.sweeps.alphas",
    "sweep_checkpoints": "tuco_eval.sweeps.series",
    "EvalSettings": "tuco_eval.sweeps.settings",
    "Grid": "tuco_eval.sweeps.settings",
    "ModelOptions": "tuco_eval.sweeps.settings",
    "task_manager_for": "tuco_eval.sweeps.settings",
    "cross_validate": "tuco_eval.analysis.run_cv",
    "report": "tuco_eval.pipeline.report",
}
__all__ = sorted(_LAZY)


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


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

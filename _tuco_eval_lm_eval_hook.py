"""Registers lm-eval's ``tuco_scaled`` model the moment lm-eval builds its registry.

lm-eval 0.4.13 scans no plugin entry points for models, so this stdlib-only module is imported
at interpreter start by ``tuco_eval_autoregister.pth``. It installs a meta-path finder that
watches for ``lm_eval.api.registry``; right after that module runs, it imports
``lm_eval.models`` (so the built-in models register first) and adds a lazy placeholder
``tuco_scaled -> tuco_eval.harness.tuco_scaled:TucoScaledLM``. Nothing else is imported, so unrelated Python
start-up pays only for this file. Under the ``lm_eval`` command, an uncaught tuco-eval user error
(``TucoError``) prints as one line and exits 2 instead of a traceback; programs that merely
import lm-eval keep Python's own exception handling.
"""

import os
import sys
from importlib.machinery import PathFinder

_WATCHED = "lm_eval.api.registry"
_TARGET = "tuco_eval.harness.tuco_scaled:TucoScaledLM"


def _register(registry_module) -> None:
    try:
        import lm_eval.models  # noqa: F401  (built-ins first, or `--model hf` breaks)

        if "tuco_scaled" not in registry_module.model_registry:
            registry_module.model_registry.register("tuco_scaled", target=_TARGET)
        if _running_lm_eval_cli() and not getattr(sys.excepthook, "_tuco_eval", False):
            sys.excepthook = _one_line_for_user_errors(sys.excepthook)
    except Exception as err:  # never break lm-eval because of this convenience
        print(f"tuco-eval: could not register 'tuco_scaled' with lm-eval: {err}", file=sys.stderr)


def _running_lm_eval_cli() -> bool:
    """The `lm_eval` command (or `python -m lm_eval`), not a program that imports lm-eval."""
    argv0 = (sys.argv[0] if sys.argv else "").replace("\\", "/")
    return os.path.basename(argv0) in ("lm_eval", "lm-eval", "lm_eval.exe") or argv0.endswith(
        "lm_eval/__main__.py"
    )


def _is_user_error(kind) -> bool:
    return any(
        c.__name__ == "TucoError" and c.__module__ == "tuco_eval.util.errors" for c in kind.__mro__
    )


def _one_line_for_user_errors(previous):
    """An excepthook: a TucoError reaching the top of `lm_eval` is a user mistake, not a bug."""

    def hook(kind, value, traceback):
        if not _is_user_error(kind):
            return previous(kind, value, traceback)
        sys.stdout.flush()
        sys.stderr.write(f"lm_eval: error: {value}\n")
        sys.stderr.flush()
        os._exit(2)  # an excepthook cannot set the exit status otherwise; streams are flushed

    hook._tuco_eval = True
    return hook


class _RegisterAfterExec:  # a loader; importlib.abc would cost ~20 ms of imports
    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        _register(module)


class _Finder:  # a meta-path finder (duck-typed)
    def find_spec(self, fullname, path, target=None):
        if fullname != _WATCHED:
            return None
        sys.meta_path.remove(self)  # once only
        spec = PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisterAfterExec(spec.loader)
        return spec


def ensure_registered() -> None:
    """Register now if lm-eval's registry exists, else as soon as it is imported."""
    if _WATCHED in sys.modules:
        _register(sys.modules[_WATCHED])
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


ensure_registered()

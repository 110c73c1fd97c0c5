"""Registers lm-eval's ``tuco_scaled`` model the moment lm-eval builds its registry.

lm-eval 0.4.13 scans no plugin entry points for models, so this stdlib-only module is imported
at interpreter start by ``tuco_eval_autoregister.pth``. It installs a meta-path finder that
watches for ``lm_eval.api.registry``; right after that module runs, it imports
``lm_eval.models`` (so the built-in models register first) and adds a lazy placeholder
``tuco_scaled -> tuco_eval.harness.tuco_scaled:TucoScaledLM``. It also watches for
``lm_eval.tasks.manager``: a ``TaskManager`` that indexes lm-eval's built-in tasks (its default)
then indexes tuco-eval's task folder too, so ``lm_eval --tasks tuco_mmlu,tuco_behavior`` finds the
paper's tasks with no ``--include_path`` (one passed anyway is not indexed twice; a manager built
with ``include_defaults=False`` is left alone). Nothing else is imported, so unrelated Python
start-up pays only for this file. Under the ``lm_eval`` command, an uncaught tuco-eval user error
(``TucoError``) prints as one line and exits 2 instead of a traceback; programs that merely
import lm-eval keep Python's own exception handling.
"""

import os
import sys
from importlib.machinery import PathFinder

_REGISTRY = "lm_eval.api.registry"
_TASK_MANAGER = "lm_eval.tasks.manager"
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


def _add_tasks(manager_module) -> None:
    """Make TaskManager index tuco-eval's tasks wherever it indexes lm-eval's own."""
    try:
        cls = manager_module.TaskManager
        if getattr(cls.__init__, "_tuco_eval", False):
            return
        cls.__init__ = _with_own_tasks(cls.__init__)
    except Exception as err:  # never break lm-eval because of this convenience
        print(f"tuco-eval: could not add its tasks to lm-eval's TaskManager: {err}", file=sys.stderr)


def _with_own_tasks(original):
    def __init__(self, *args, **kwargs):
        import inspect
        from pathlib import Path

        bound = inspect.signature(original).bind(self, *args, **kwargs)
        bound.apply_defaults()
        given = bound.arguments.get("include_path")
        if bound.arguments.get("include_defaults", True):
            paths = [] if given is None else list(given) if isinstance(given, (list, tuple)) else [given]
            own = _tasks_dir()
            if own is not None and all(Path(p).resolve() != own.resolve() for p in paths):
                # after lm-eval's own tasks, before the user's folders (later folders override)
                bound.arguments["include_path"] = [str(own), *paths]
        original(*bound.args, **bound.kwargs)

    __init__._tuco_eval = True
    __init__.__wrapped__ = original
    return __init__


def _tasks_dir():
    try:
        # standard library and tuco_eval.util only
        from tuco_eval.harness.task_data import tasks_dir
    except ImportError:  # tuco-eval uninstalled while its .pth stayed: nothing to add
        return None
    folder = tasks_dir()
    return folder if folder.is_dir() else None


_ON_IMPORT = {_REGISTRY: _register, _TASK_MANAGER: _add_tasks}


class _RunAfterExec:  # a loader; importlib.abc would cost ~20 ms of imports
    def __init__(self, inner, then):
        self._inner, self._then = inner, then

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        self._then(module)


class _Finder:  # a meta-path finder (duck-typed)
    def __init__(self, names):
        self._waiting = set(names)

    def find_spec(self, fullname, path, target=None):
        if fullname not in self._waiting:
            return None
        self._waiting.discard(fullname)
        if not self._waiting:
            sys.meta_path.remove(self)  # each module once only
        spec = PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _RunAfterExec(spec.loader, _ON_IMPORT[fullname])
        return spec


def ensure_registered() -> None:
    """Register `tuco_scaled` and the tasks now where lm-eval's modules exist, else as soon as
    they are imported."""
    waiting = []
    for name, then in _ON_IMPORT.items():
        if name in sys.modules:
            then(sys.modules[name])
        else:
            waiting.append(name)
    if waiting and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(waiting))


ensure_registered()

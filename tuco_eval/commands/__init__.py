"""One module per `tuco-eval` subcommand, each with HELP, add_arguments(parser) and run(args)."""

from __future__ import annotations

import importlib
from types import ModuleType

# subcommand name -> module under tuco_eval.commands (imported only when the CLI starts)
NAMES: dict[str, str] = {
    "score": "score",
    "sweep": "sweep",
    "cv": "cv",
    "report": "report",
    "experiment": "experiment",
    "demo": "demo",
    "watch": "watch",
    "export": "export",
}


def load_commands() -> dict[str, ModuleType]:
    return {
        name: importlib.import_module(f"tuco_eval.commands.{mod}") for name, mod in NAMES.items()
    }

"""Whether a command line written in the docs parses: tuco-eval's parser (with the checks its
commands make right after parsing), lm-eval's own (HarnessCLI, which reads sys.argv), or a
Makefile target; a synopsis' placeholders (`N`, `$VAR`, `...`) stand for values. Parse only:
nothing runs."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import sys
from functools import cache
from pathlib import Path

import lm_eval
from lm_eval._cli.harness import HarnessCLI

from tests.helpers.doc_references import REPO, Ref, argv_variants
from tuco_eval.cli import build_parser, check_args
from tuco_eval.util.errors import TucoError

FRAGMENT_ERRORS = ("the following arguments are required", "expected one argument")
TUCO_SCALED_SOURCE = REPO / "tuco_eval" / "harness" / "tuco_scaled.py"


def _tuco_eval_parser(argv: list[str]):
    parser = build_parser()
    subparsers = parser._subparsers._group_actions[0].choices  # argparse keeps no public map
    _no_abbreviations(parser, *subparsers.values())
    return parser, subparsers.get(argv[0]) if argv else None


def _no_abbreviations(*parsers) -> None:
    """Docs name options in full: `--fold` for `--folds` works at a prompt, not in the docs."""
    for parser in parsers:
        parser.allow_abbrev = False


def _actions(subparser) -> dict:
    return dict(subparser._option_string_actions) if subparser is not None else {}


def _action_for(actions: dict, token: str):
    name = token.split("=")[0]
    return actions.get(name) or actions.get(name.replace("_", "-")) or actions.get(name.replace("-", "_"))


def _fill_placeholders(argv: list[str], actions: dict) -> list[str]:
    """A synopsis' `N`, `I`, `...`: an upper-case value of a typed option becomes its default (or
    1); `...` standing for more arguments is dropped, `...` as an option's value kept."""
    out = []
    for i, token in enumerate(argv):
        action = _action_for(actions, argv[i - 1]) if i and argv[i - 1].startswith("-") else None
        takes_value = action is not None and action.nargs != 0 and "=" not in argv[i - 1]
        if token == "..." and not takes_value:
            continue
        typed = takes_value and action.type not in (None, str, Path) and not action.choices
        if typed and re.fullmatch(r"[A-Z][A-Z_]*|\$\{?\w+\}?", token):  # N, $SLURM_ARRAY_TASK_ID
            token = str(action.default) if action.default is not None else "1"
        out.append(token)
    return out


def _parse_error(parse) -> str | None:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            parse()
        except SystemExit as exit_:
            return stderr.getvalue().strip().splitlines()[-1] if exit_.code else None
    return None


def _parse_tuco_eval(argv: list[str]) -> str | None:
    if argv[:1] == ["lm-eval"]:
        return _parse_lm_eval(argv[1:])
    parser, sub = _tuco_eval_parser(argv)
    argv = _fill_placeholders(argv, _actions(sub))

    def parse():
        check_args(parser.parse_args(argv))

    try:
        return _parse_error(parse)
    except TucoError as err:
        return str(err)


def _parse_lm_eval(argv: list[str]) -> str | None:
    cli = HarnessCLI()
    _no_abbreviations(cli._parser, *cli._subparsers.choices.values())
    argv = _fill_placeholders(argv, _actions(cli._subparsers.choices["run"]))
    saved = sys.argv
    sys.argv = ["lm_eval", *argv]  # lm-eval's parser reads sys.argv (and inserts `run` itself)
    try:
        return _parse_error(cli.parse_args)
    finally:
        sys.argv = saved


@cache
def _make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([\w-]+):", text, flags=re.M))


@cache
def _init_params(path: Path, class_name: str) -> set[str]:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    args = item.args
                    return {a.arg for a in args.args + args.kwonlyargs} - {"self"}
    raise AssertionError(f"no {class_name}.__init__ in {path}")


def model_args_keys() -> set[str]:
    """What `tuco_scaled` takes: its own keywords and every keyword of lm-eval's `hf` model."""
    hf = Path(lm_eval.__file__).parent / "models" / "huggingface.py"
    return (_init_params(TUCO_SCALED_SOURCE, "TucoScaledLM") | _init_params(hf, "HFLM")) - {"pair"}


def _model_args_problem(argv: list[str]) -> str | None:
    tuco_scaled = "tuco_scaled" in argv or argv[:1] == ["sweep"]
    for flag, value in zip(argv, argv[1:], strict=False):
        if not (tuco_scaled and flag in ("--model_args", "--model-args")) or value == "...":
            continue
        keys = [part.split("=")[0] for part in value.split(",") if "=" in part]
        unknown = sorted(set(keys) - model_args_keys())
        if unknown:
            return f"model_args {unknown} are not tuco_scaled or hf arguments"
    return None


def command_problem(ref: Ref) -> str | None:
    """Why this command line would not parse (None when every `a|b` variant of it parses)."""
    for argv in argv_variants(ref.text):
        program, argv = argv[0], argv[1:]
        if program == "python":  # python -m tuco_eval ...
            argv = argv[2:]
        if program == "make":
            error = None if argv and argv[0] in _make_targets() else f"no make target {argv[:1]}"
        elif program in ("lm_eval", "lm-eval"):
            error = _parse_lm_eval(argv)
        else:
            error = _parse_tuco_eval(argv)
        error = error or _model_args_problem(argv)
        if error and ref.fragment and any(allowed in error for allowed in FRAGMENT_ERRORS):
            error = None
        if error is not None:
            return error
    return None

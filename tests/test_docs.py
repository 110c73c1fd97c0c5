"""The user docs (README.md, CONTRIBUTING.md, docs/*.md) name only what exists: every command
line parses with the real parser (tuco-eval's, lm-eval's, the Makefile's targets), every test,
module, name and file they cite is in the tree, every relative link and #anchor resolves.
Nothing is run and no model loads: the whole file takes about a second."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import tomllib
from doc_references import (
    DOCS,
    REPO,
    Ref,
    anchors,
    argv_variants,
    cited_tests,
    commands,
    links,
    module_refs,
    path_refs,
    python_imports,
)

FRAGMENT_ERRORS = ("the following arguments are required", "expected one argument")
TUCO_SCALED_SOURCE = REPO / "tuco_eval" / "harness" / "tuco_scaled.py"


def _report(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} stale reference(s) in the docs:\n" + "\n".join(problems)


# --- commands ------------------------------------------------------------------------------


def _tuco_eval_parser(argv: list[str]):
    from tuco_eval.cli import build_parser

    parser = build_parser()
    subparsers = parser._subparsers._group_actions[0].choices  # argparse keeps no public map
    _no_abbreviations(parser, *subparsers.values())
    return parser, subparsers.get(argv[0]) if argv else None


def _no_abbreviations(*parsers) -> None:
    """Docs name options in full: `--fold` for `--folds` works at a prompt, not in the docs."""
    for parser in parsers:
        parser.allow_abbrev = False


def _lm_eval_parser():
    from lm_eval._cli.harness import HarnessCLI

    return HarnessCLI()


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
    from tuco_eval.cli import check_args

    parser, sub = _tuco_eval_parser(argv)
    argv = _fill_placeholders(argv, _actions(sub))

    def parse():
        check_args(parser.parse_args(argv))

    from tuco_eval.util.errors import TucoError

    try:
        return _parse_error(parse)
    except TucoError as err:
        return str(err)


def _parse_lm_eval(argv: list[str]) -> str | None:
    cli = _lm_eval_parser()
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


def _model_args_keys() -> set[str]:
    """What `tuco_scaled` takes: its own keywords and every keyword of lm-eval's `hf` model."""
    import lm_eval

    hf = Path(lm_eval.__file__).parent / "models" / "huggingface.py"
    return (_init_params(TUCO_SCALED_SOURCE, "TucoScaledLM") | _init_params(hf, "HFLM")) - {"pair"}


def _model_args_problem(argv: list[str]) -> str | None:
    tuco_scaled = "tuco_scaled" in argv or argv[:1] == ["sweep"]
    for flag, value in zip(argv, argv[1:], strict=False):
        if not (tuco_scaled and flag in ("--model_args", "--model-args")) or value == "...":
            continue
        keys = [part.split("=")[0] for part in value.split(",") if "=" in part]
        unknown = sorted(set(keys) - _model_args_keys())
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


def test_every_command_line_in_the_docs_parses():
    problems = []
    for doc in DOCS:
        for ref in commands(doc):
            error = command_problem(ref)
            if error:
                problems.append(f"{ref.where()}: `{ref.text}`: {error}")
    _report(problems)


@pytest.mark.parametrize(
    "line, broken",
    [
        ("tuco-eval cv runs/x --folds 5", False),
        ("tuco-eval cv runs/x --flods 5", True),  # a misspelt flag
        ("tuco-eval cv runs/x --fold 5", True),  # an abbreviation argparse would take
        ("lm_eval --model hf --model_args pretrained=P --task t", True),
        ("tuco-eval sweep --tasks t --output o", True),  # the required --model-args missing
        ("tuco-eval experiment gcg --base B --finetuned F --output d", True),  # --gcg FILE missing
        ("tuco-eval sweep --model-args pretrained=F,base=P --tasks t --output o [--limit N]", False),
        ("tuco-eval lm-eval --model tuco_scaled --model_args pretrained=F,base=P,alfa=2", True),
        ("lm_eval --model tuco_scaled --model_args pretrained=F,base=P --tasks t --num_fewshot five", True),
        ("lm_eval --model tuco_scaled --model_args pretrained=F,base=P,alpha=1.1 ...", False),
        ("make demo", False),
        ("make docs", True),
    ],
)
def test_the_command_check_catches_what_a_reader_would_trip_on(line, broken):
    ref = Ref(DOCS[0], 0, line)
    assert (command_problem(ref) is not None) == broken


# --- tests, modules, files -----------------------------------------------------------------


@cache
def _defined(path: Path) -> dict[str, ast.AST]:
    """Top-level names a module defines, binds or imports, with their nodes."""
    names: dict[str, ast.AST] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update({t.id: node for t in targets if isinstance(t, ast.Name)})
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update({(a.asname or a.name).split(".")[0]: node for a in node.names})
    if path == REPO / "tuco_eval" / "__init__.py":  # the lazily imported public names
        lazy = next(n for n in ast.parse(path.read_text()).body if isinstance(n, ast.Assign)
                    and getattr(n.targets[0], "id", "") == "_LAZY")
        names.update({key.value: lazy for key in lazy.value.keys})
    return names


def _member(path: Path, dotted: list[str]) -> bool:
    node: ast.AST | None = _defined(path).get(dotted[0])
    for name in dotted[1:]:
        if not isinstance(node, ast.ClassDef):
            return node is not None  # an attribute of a value: not checked statically
        node = next((n for n in node.body if getattr(n, "name", None) == name
                     or name in [getattr(t, "id", None) for t in getattr(n, "targets", [])]), None)
    return node is not None


def _module_file(parts: list[str]) -> Path | None:
    base = REPO.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def module_problem(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "tuco_eval":
        parts = ["tuco_eval", *parts]
    for cut in range(len(parts), 0, -1):
        path = _module_file(parts[:cut])
        if path is not None:
            rest = parts[cut:]
            if not rest or _member(path, rest):
                return None
            return f"{'.'.join(parts[:cut])} has no {'.'.join(rest)}"
    return "no such module"


def test_every_module_and_name_in_the_docs_exists():
    problems = []
    for doc in DOCS:
        for ref in module_refs(doc) + python_imports(doc):
            error = module_problem(ref.text)
            if error:
                problems.append(f"{ref.where()}: `{ref.text}`: {error}")
    _report(problems)


def test_problem(text: str) -> str | None:
    if "::" not in text:
        found = [f for f in (REPO / "tests").glob("test_*.py") if text in _defined(f)]
        return None if found else "no test of that name in tests/"
    file, dotted = text.split("::", 1)
    path = REPO / "tests" / file.removeprefix("tests/")
    if not path.exists():
        return "no such file"
    return None if _member(path, dotted.split("::")) else f"{file} has no {dotted}"


test_problem.__test__ = False  # a helper, not a pytest test


def test_every_test_the_docs_cite_exists():
    problems = []
    for doc in DOCS:
        for ref in cited_tests(doc):
            error = test_problem(ref.text)
            if error:
                problems.append(f"{ref.where()}: `{ref.text}`: {error}")
    _report(problems)


@cache
def _wheel_paths() -> dict[str, str]:
    """Where the wheel puts folders of the checkout (`tasks` -> `tuco_eval/tasks`)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    return {installed: source for source, installed in include.items()}


def _braces(text: str) -> list[str]:
    match = re.search(r"\{([\w,]+)\}", text)
    if not match:
        return [text]
    return [p for part in match.group(1).split(",")
            for p in _braces(text[: match.start()] + part + text[match.end():])]


def path_exists(text: str) -> bool:
    for installed, source in _wheel_paths().items():
        if text.rstrip("/") == installed or text.startswith(installed + "/"):
            text = source + text[len(installed):]
    return all(any(REPO.glob(p)) if "*" in p else (REPO / p).exists() for p in _braces(text))


def test_every_file_path_in_the_docs_exists():
    problems = [
        f"{ref.where()}: `{ref.text}` is not in the repository"
        for doc in DOCS
        for ref in path_refs(doc)
        if not path_exists(ref.text)
    ]
    _report(problems)


# --- links and anchors ---------------------------------------------------------------------


def link_problem(ref: Ref) -> str | None:
    target, _, anchor = ref.text.partition("#")
    path = (ref.doc.parent / target).resolve() if target else ref.doc
    if not path.exists():
        return "no such file"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"no heading #{anchor} in {path.relative_to(REPO)}"
    return None


def test_every_relative_link_and_anchor_resolves():
    problems = []
    for doc in DOCS:
        for ref in links(doc):
            error = link_problem(ref)
            if error:
                problems.append(f"{ref.where()}: ({ref.text}): {error}")
    _report(problems)


def test_anchors_are_githubs(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("# `tuco_scaled` model_args\n## Δ_CV, in 5 lines!\n## Tests\n## Tests\n"
                   "```bash\n# not a heading\n```\n### [Link](x.md) text\n")
    assert anchors(doc) == {"tuco_scaled-model_args", "δ_cv-in-5-lines", "tests", "tests-1",
                            "link-text"}


def test_a_link_to_a_missing_heading_or_file_is_caught():
    readme = DOCS[0]
    assert link_problem(Ref(readme, 0, "docs/cv.md#leaderboardjson")) is None
    assert link_problem(Ref(readme, 0, "docs/cv.md#no-such-heading")) is not None
    assert link_problem(Ref(readme, 0, "docs/no-such-file.md")) is not None


def table_problems(doc: Path) -> list[str]:
    """A table row that starts a table without a `|---|` line under it: a table broken by a
    paragraph or a blank line, which GitHub shows as plain text."""
    from doc_references import prose

    lines = dict(prose(doc))
    problems = []
    for number, line in lines.items():
        starts = line.startswith("|") and not lines.get(number - 1, "").startswith("|")
        if starts and not re.match(r"^\|\s*:?-", lines.get(number + 1, "")):
            problems.append(f"{doc.relative_to(REPO)}:{number}: a table row outside a table")
    return problems


def test_every_table_is_whole():
    _report([problem for doc in DOCS for problem in table_problems(doc)])


def test_the_readme_stays_short():
    size = (REPO / "README.md").stat().st_size
    assert size < 12 * 1024, f"README.md is {size} bytes: move reference material into docs/"


def test_every_model_arg_in_the_reference_table_exists():
    from doc_references import prose

    names = []
    for number, line in prose(REPO / "docs" / "cli.md"):
        first = line.split("|")[1].strip() if line.startswith("| `") else ""
        names += [(number, name) for name in re.findall(r"`(\w+)`", first)]
    assert names, "docs/cli.md has no model_args table"
    unknown = [f"docs/cli.md:{n}: `{name}`" for n, name in names if name not in _model_args_keys()]
    _report(unknown)

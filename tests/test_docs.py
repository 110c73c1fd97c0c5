"""The docs (README.md, docs/*.md for users; CONTRIBUTING.md, contributing/*.md for contributors) name only what exists: every command
line parses with the real parser (tuco-eval's, lm-eval's, the Makefile's targets), every test,
module, name and file they cite is in the tree, every relative link and #anchor resolves.
Nothing is run and no model loads: the whole file takes a few seconds."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
import tomllib

from tests.helpers.doc_commands import command_problem, model_args_keys
from tests.helpers.doc_references import (
    DOCS,
    REPO,
    USER_DOCS,
    Ref,
    anchors,
    cited_tests,
    commands,
    links,
    module_refs,
    path_refs,
    python_imports,
)


def _report(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} stale reference(s) in the docs:\n" + "\n".join(problems)


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


def cited_test_problem(text: str) -> str | None:
    if "::" not in text:
        if (REPO / "tests" / f"{text}.py").is_file():
            return None  # a test file named by its module
        found = [f for f in (REPO / "tests").glob("test_*.py") if text in _defined(f)]
        return None if found else "no test or test file of that name in tests/"
    file, dotted = text.split("::", 1)
    path = REPO / "tests" / file.removeprefix("tests/")
    if not path.exists():
        return "no such file"
    return None if _member(path, dotted.split("::")) else f"{file} has no {dotted}"


def test_every_test_the_docs_cite_exists():
    problems = []
    for doc in DOCS:
        for ref in cited_tests(doc):
            error = cited_test_problem(ref.text)
            if error:
                problems.append(f"{ref.where()}: `{ref.text}`: {error}")
    _report(problems)


@cache
def _wheel_paths() -> dict[str, str]:
    """Where the wheel puts files of the checkout outside tuco_eval/ (pyproject's force-include)."""
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
    assert link_problem(Ref(readme, 0, "docs/formats.md#leaderboardjson")) is None
    assert link_problem(Ref(readme, 0, "docs/formats.md#no-such-heading")) is not None
    assert link_problem(Ref(readme, 0, "docs/no-such-file.md")) is not None


def table_problems(doc: Path) -> list[str]:
    """A table row that starts a table without a `|---|` line under it: a table broken by a
    paragraph or a blank line, which GitHub shows as plain text."""
    from tests.helpers.doc_references import prose

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
    from tests.helpers.doc_references import prose

    names = []
    for number, line in prose(REPO / "docs" / "cli.md"):
        first = line.split("|")[1].strip() if line.startswith("| `") else ""
        names += [(number, name) for name in re.findall(r"`(\w+)`", first)]
    assert names, "docs/cli.md has no model_args table"
    unknown = [f"docs/cli.md:{n}: `{name}`" for n, name in names if name not in model_args_keys()]
    _report(unknown)


# flags named in prose, and defaults written into command synopses


# flags of other tools the docs show, and the one a script reads from sys.argv itself
EXTERNAL_FLAGS = {"--array": "sbatch", "--no-deps": "pip", "--compare": "scripts/page_screenshots.py"}


@cache
def _tuco_options() -> dict[str, dict]:
    """{subcommand: {option string: argparse action}}, every spelling the parser reads."""
    from tuco_eval.cli import OLD_SPELLINGS, build_parser

    subs = next(a for a in build_parser()._actions if a.dest == "command").choices
    out = {}
    for name, sub in subs.items():
        options = {o: a for a in sub._actions for o in a.option_strings}
        options |= {o.replace("-", "_").replace("__", "--", 1): a for o, a in list(options.items())}
        options |= {old: options[new] for old, new in OLD_SPELLINGS.items() if new in options}
        out[name] = options
    return out


@cache
def _known_flags() -> set[str]:
    """Every flag some parser the docs may name reads: tuco-eval's, lm-eval's, the scripts' and
    benchmarks' own (their add_argument calls), and EXTERNAL_FLAGS."""
    from lm_eval._cli.harness import HarnessCLI

    known = {o for options in _tuco_options().values() for o in options} | set(EXTERNAL_FLAGS)
    for sub in HarnessCLI()._subparsers.choices.values():
        known |= {o for a in sub._actions for o in a.option_strings}
    for script in [*REPO.glob("scripts/*.py"), *REPO.glob("bench/*.py")]:
        known |= set(re.findall(r"add_argument\(\s*\"(--[a-z][a-z0-9_-]*)\"", script.read_text()))
    return known


def flags_in_prose(text: str) -> list[tuple[int, str]]:
    """(line, flag) of every `--flag` inside backticks."""
    return [(i, flag) for i, line in enumerate(text.splitlines(), 1)
            for quoted in re.findall(r"`[^`]*`", line)
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9_-]*", quoted)]


def test_every_flag_the_docs_name_exists():
    problems = [f"{doc.relative_to(REPO)}:{line}: {flag} is no option of any command"
                for doc in DOCS for line, flag in flags_in_prose(doc.read_text())
                if flag not in _known_flags()]
    _report(problems)


def test_the_flag_check_catches_a_flag_that_does_not_exist():
    assert [f for _, f in flags_in_prose("swept without `--label` (run.json records it)")
            if f not in _known_flags()] == ["--label"]  # the `--labels` typo this test was written for


def synopsis_defaults(text: str) -> list[tuple[int, str, str, str]]:
    """(line, subcommand, flag, value) of every `[--flag value]` in a `tuco-eval SUB` line."""
    found = []
    for i, line in enumerate(text.splitlines(), 1):
        command = re.match(r"\s*tuco-eval ([a-z][a-z-]*)", line)
        if command:
            found += [(i, command.group(1), flag, value)
                      for flag, value in re.findall(r"\[(--[a-z][a-z0-9-]*) ([^\]\s]+)\]", line)]
    return found


def default_problem(subcommand: str, flag: str, value: str) -> str | None:
    """Why `[flag value]` misstates the parser's default; None where it does not, or where the
    value is a placeholder (FILE, N) or an example of an option without a default."""
    action = _tuco_options().get(subcommand, {}).get(flag)
    if action is None:
        return f"tuco-eval {subcommand} has no {flag}"
    if re.fullmatch(r"[A-Z][A-Z_0-9.,]*", value) or action.default is None:
        return None
    stated, default = value.split("|")[0], action.default
    try:
        same = float(stated) == float(default)
    except (TypeError, ValueError):
        same = stated == (",".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default))
    return None if same else f"says {flag} {stated}, the parser's default is {default!r}"


def test_every_default_a_synopsis_states_is_the_parsers():
    problems = [f"{doc.relative_to(REPO)}:{line}: tuco-eval {sub}: {problem}"
                for doc in DOCS for line, sub, flag, value in synopsis_defaults(doc.read_text())
                if (problem := default_problem(sub, flag, value))]
    _report(problems)


@pytest.mark.parametrize("line, wrong", [
    ("tuco-eval cv RUN_DIR [--folds 5] [--seed 0]", False),
    ("tuco-eval cv RUN_DIR [--folds 10]", True),
    ("tuco-eval watch T --model-args base=P --tasks t --output R [--poll-seconds 30]", False),
    ("tuco-eval watch T --model-args base=P --tasks t --output R [--poll-seconds 60]", True),
    ("tuco-eval sweep --model-args pretrained=F,base=P --tasks t --output o [--batch-size 8|auto]", False),
])
def test_the_default_check_catches_a_wrong_default(line, wrong):
    assert any(default_problem(sub, flag, value) for _, sub, flag, value in synopsis_defaults(line)) == wrong


def test_the_citation_names_the_released_version():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    readme, cff = (REPO / "README.md").read_text(), (REPO / "CITATION.cff").read_text()
    assert f"version = {{{version}}}" in readme and f"version: {version}" in cff
    assert "@inproceedings{nuti2025tuco" in readme and "46837--46876" in readme


def test_every_commands_help_starts_with_what_it_does():
    from tuco_eval.commands import load_commands

    for name, module in load_commands().items():
        first = module.HELP.split()[0]
        assert first[0].isupper() and first.lower() not in ("leaderboard", "tuco"), (name, module.HELP[:40])


# what the user docs must not say: how the project is worked on, a data folder users do not have,
# a required package called optional, α = 0 as the base model in every mode (it is not in the
# activation mode: the base's blocks run on the fine-tuned embedding, norm and head)
NOT_FOR_USERS = {
    r"shared/data": "names the project's data folder, which users do not have",
    r"load average": "a machine's load belongs in contributing/performance.md",
    r"(?<![\w/])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,12}(?![\w/])": "a commit hash",
    r"\bbefore it (did|reused|was|took)\b|\bas of (commit|this round)\b": "history of the code",
    r"α = 0\W+(is|means|equals)\W+(the )?base model(?! in the (weights|logits))": "α = 0 is the base "
    "model in the weights and logits modes only",
}


def user_doc_problems(text: str, required: set[str]) -> list[tuple[int, str]]:
    """(line, why) of each sentence the user docs should not hold, a sentence broken across lines
    included; `required` the packages pyproject declares (none of them may be called optional)."""
    flat = text.replace("\n", " ")  # same offsets: a match's line is counted in `text`
    found = [(text.count("\n", 0, match.start()) + 1, why)
             for pattern, why in NOT_FOR_USERS.items() for match in re.finditer(pattern, flat)]
    for number, line in enumerate(text.splitlines(), 1):
        if re.search(r"\boptional\b", line, re.I):
            found += [(number, f"calls {name}, a required dependency, optional") for name in sorted(required)
                      if re.search(rf"`{re.escape(name)}`|\b{re.escape(name)} is optional", line)]
    return sorted(found)


def _required_packages() -> set[str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0] for dep in deps}


def test_the_user_docs_speak_of_the_software():
    _report([f"{doc.relative_to(REPO)}:{line}: {why}" for doc in USER_DOCS
             for line, why in user_doc_problems(doc.read_text(), _required_packages())])


@pytest.mark.parametrize("old", [  # sentences the user docs held, each caught
    "Offline, add `--metadata '{\"data_dir\": \"../shared/data\"}'` or set",
    "Measured 2026-12-05 on the project's 2-core machine with no other jobs (load average 1.5–1.9",
    "| before it reused its work (5310268) | 6 min 05 s | 10.2 |",
    "the weights mode puts θ_FT back by copying it. **α = 0 is the\nbase model** in every mode, up to float",
    "`gguf` (optional) for GGUF files.",
])
def test_the_user_doc_check_catches_what_users_should_not_read(old):
    assert user_doc_problems(old.replace("**", ""), {"gguf"})


def test_a_fixed_alpha_zero_sentence_passes():
    assert not user_doc_problems("α = 0 is the base model in the weights and logits modes; in the activation "
                                 "mode it runs the base's blocks on the fine-tuned embedding.", {"gguf"})


def shared_flag_problems(text: str) -> list[tuple[int, str]]:
    """A `--flag [value]` said to hold for every command that runs a model must be an option of
    each of them (with that default, where a value is given)."""
    options = _tuco_options()
    model_commands = sorted(name for name, opts in options.items() if "--device" in opts)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not re.search(r"\b(wherever|every command|every subcommand|all commands)\b", line):
            continue
        for flag, value in re.findall(r"`(--[a-z][a-z0-9-]*)(?: ([^`\s]+))?`", line):
            for name in model_commands:
                action = options[name].get(flag)
                if action is None:
                    found.append((number, f"tuco-eval {name} has no {flag}"))
                elif value and not value.isupper() and str(action.default) != value:
                    found.append((number, f"tuco-eval {name}'s {flag} defaults to {action.default!r}"))
    return found


def test_every_flag_said_to_be_everywhere_is():
    _report([f"{doc.relative_to(REPO)}:{line}: {why}" for doc in DOCS
             for line, why in shared_flag_problems(doc.read_text())])


def test_the_shared_flag_check_catches_the_batch_size_claim():
    old = "available, else CPU) and `--batch-size 8` wherever a model runs. The older spellings still work:"
    assert ("tuco-eval demo has no --batch-size") in [why for _, why in shared_flag_problems(old)]
    assert not shared_flag_problems("`--device auto` wherever a model runs")


def test_the_user_docs_are_short():
    size = sum(doc.stat().st_size for doc in USER_DOCS)
    assert size <= 105_000, f"README.md and docs/*.md hold {size} bytes: reference for contributors goes to contributing/"


def test_every_switch_states_its_default_as_the_parser_has_it():
    import argparse

    from tuco_eval.cli import _formatter

    wrong = []
    for command, options in _tuco_options().items():
        for flag, action in options.items():
            if action.nargs != 0 or action.default in (argparse.SUPPRESS, None) or not action.help:
                continue
            said = _formatter("tuco-eval")._get_help_string(action)
            stated = re.search(r"\(default: (on|off)\b", said)
            if isinstance(action, argparse.BooleanOptionalAction):
                wrong += [f"{command} {flag}: {said!r}"] if not stated or (stated[1] == "on") != action.default else []
    assert not wrong, wrong  # e.g. experiment's --apply-chat-template, on by default, said "off"

"""What the user docs refer to, read out of their Markdown: command lines, test names, module
paths, file paths, links and the anchors headings make. tests/test_docs.py checks each against
the tree and the real argument parsers."""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
USER_DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
DOCS = [*USER_DOCS, REPO / "CONTRIBUTING.md", *sorted((REPO / "contributing").glob("*.md"))]
SUBPACKAGES = sorted(p.name for p in (REPO / "tuco_eval").iterdir() if (p / "__init__.py").exists())
COMMAND_STARTS = ("tuco-eval ", "lm_eval ", "python -m tuco_eval ", "make ")
MAX_VARIANTS = 64  # `a|b` alternatives multiply; a synopsis never needs more


@dataclass(frozen=True)
class Ref:
    doc: Path
    line: int
    text: str
    fragment: bool = False  # an inline mention (`tuco-eval cv`), not a whole command line

    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"


def _lines(doc: Path) -> list[tuple[int, str, str | None]]:
    """(line number, text, language of the fenced block it sits in or None outside blocks)."""
    out, fence, lang = [], None, None
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence, lang = stripped[:3], stripped[3:].strip() or "text"
            continue
        if fence is not None and stripped.startswith(fence):
            fence, lang = None, None
            continue
        out.append((number, line, lang))
    return out


def prose(doc: Path) -> list[tuple[int, str]]:
    return [(n, line) for n, line, lang in _lines(doc) if lang is None]


def code_blocks(doc: Path, languages: tuple[str, ...]) -> list[tuple[int, str]]:
    return [(n, line) for n, line, lang in _lines(doc) if lang in languages]


def inline_code(doc: Path) -> list[Ref]:
    spans = []
    for number, line in prose(doc):
        for match in re.finditer(r"(`+)(.+?)\1", line):
            spans.append(Ref(doc, number, match.group(2).strip().replace("\\|", "|")))
    return spans


def commands(doc: Path) -> list[Ref]:
    """Command lines of shell blocks (continuations joined, comments dropped) and inline spans."""
    found, pending, start = [], "", 0
    for number, line in code_blocks(doc, ("bash", "sh", "shell", "console", "text")):
        text = line.strip().removeprefix("$ ")
        if not pending:
            start = number
        pending += text[:-1] + " " if text.endswith("\\") else text
        if text.endswith("\\"):
            continue
        if pending.startswith(COMMAND_STARTS):
            found.append(Ref(doc, start, pending))
        pending = ""
    found += [
        Ref(span.doc, span.line, span.text, fragment=True)
        for span in inline_code(doc)
        if span.text.startswith(COMMAND_STARTS)
    ]
    return found


def argv_variants(command: str) -> list[list[str]]:
    """A synopsis as argv lists: `[...]` groups kept, each `a|b` alternative tried in turn."""
    tokens = shlex.split(command, comments=True)
    tokens = [token.strip("[]").replace(",...", "") for token in tokens]  # `pretrained=PT,...`
    tokens = [token for token in tokens if token]
    choices = [token.split("|") if _is_alternative(token) else [token] for token in tokens]
    variants = itertools.islice(itertools.product(*choices), MAX_VARIANTS)
    return [list(variant) for variant in variants]


def _is_alternative(token: str) -> bool:
    # `max|min`, `RUN_DIR|ROOT`, `--log-tuco|--no-log-tuco`; never a shell pipe inside a value
    return "|" in token and all(part for part in token.split("|"))


TEST_REF = re.compile(r"(?<![\w/.-])((?:tests/)?test_\w+\.py)::([\w:]+)")
BARE_TEST = re.compile(r"^(test_\w+)$")
MODULE_REF = re.compile(r"^(?:tuco_eval|" + "|".join(SUBPACKAGES) + r")(?:\.[A-Za-z_]\w*)+$")
TOP_LEVEL = ("docs", "contributing", "tests", "bench", "scripts", "tuco_eval", "tasks", ".ci")
PATH_CHARS = r"(?:[\w./*-]|\{[\w,]+\})*"  # `checkpoint-{8,16,24}` as the shell expands it
PATH_REF = re.compile(r"(?<![\w/.$~-])((?:" + "|".join(re.escape(t) for t in TOP_LEVEL) + r")/" + PATH_CHARS + ")")
PACKAGE_PATH = re.compile(r"^((?:" + "|".join(SUBPACKAGES) + r")/[\w./*-]*)$")
BARE_MODULE_FILE = re.compile(r"^([a-z_]\w*\.py)$")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def cited_tests(doc: Path) -> list[Ref]:
    refs = []
    for number, line, _ in _lines(doc):
        refs += [Ref(doc, number, m.group(0)) for m in TEST_REF.finditer(line)]
    refs += [span for span in inline_code(doc) if BARE_TEST.match(span.text)]
    return refs


def module_refs(doc: Path) -> list[Ref]:
    """`tuco_eval.x.y`, `store.name` (a subpackage and a name in it), with or without `()`."""
    spans = [Ref(s.doc, s.line, s.text.removesuffix("()")) for s in inline_code(doc)]
    return [span for span in spans if MODULE_REF.match(span.text)]


def python_imports(doc: Path) -> list[Ref]:
    """`import tuco_eval.x` and `from tuco_eval... import a, b` in python blocks, as one dotted
    name per imported module or name."""
    refs = []
    for number, line in code_blocks(doc, ("python", "py")):
        plain = re.match(r"\s*import (tuco_eval[\w.]*)", line)
        if plain:
            refs.append(Ref(doc, number, plain.group(1)))
        match = re.match(r"\s*from (tuco_eval[\w.]*) import (.+?)\s*(#.*)?$", line)
        if match:
            names = [name.strip().split(" as ")[0] for name in match.group(2).strip("()").split(",")]
            refs += [Ref(doc, number, f"{match.group(1)}.{name}") for name in names if name]
    return refs


def path_refs(doc: Path) -> list[Ref]:
    """Repository paths anywhere in the text, and package-relative ones (`core/scaling.py`) or
    bare module files (`logit_mix.py`) in inline code."""
    refs = []
    for number, line, _ in _lines(doc):
        for match in PATH_REF.finditer(line):
            path = match.group(1).split("::")[0].rstrip(".")
            refs.append(Ref(doc, number, path))
    for span in inline_code(doc):
        if PACKAGE_PATH.match(span.text):
            refs.append(Ref(doc, span.line, "tuco_eval/" + span.text.rstrip(".")))
        elif BARE_MODULE_FILE.match(span.text):
            refs.append(Ref(doc, span.line, "**/" + span.text))
    return refs


def links(doc: Path) -> list[Ref]:
    return [
        Ref(doc, number, match.group(1))
        for number, line in prose(doc)
        for match in LINK.finditer(re.sub(r"`[^`]*`", "", line))
        if not re.match(r"^[a-z]+:", match.group(1))  # http:, https:, mailto:
    ]


def anchors(doc: Path) -> set[str]:
    """The ids GitHub gives the document's headings (lower case, punctuation dropped, spaces to
    dashes, `-1`, `-2` ... on repeats)."""
    ids, counts = set(), {}
    for _, line in prose(doc):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))  # a link keeps its text
        text = re.sub(r"<[^>]+>", "", text)
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = counts.get(slug, 0)
        ids.add(f"{slug}-{count}" if count else slug)
        counts[slug] = count + 1
    return ids

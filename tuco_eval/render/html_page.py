"""What every HTML page shares: one jinja2 environment over `render/templates/` with autoescape
on (every value is escaped; markup comes only from the templates), the layout with its inline CSS
and JavaScript (`layout.html.j2`, `page.css`, `page.js`), the macros for tables, figures and
links (`macros.html.j2`), and the cell types a table holds besides plain text.

Nothing on a page asks for anything outside the file (no CDN, no web font, no external image):
figures travel as data URIs, so a page can be mailed or attached to a paper. Tables with class
`sortable` sort on a click on their last header row (numbers numerically, a second click
reverses); a `<select data-choices="SELECTOR">` shows the one element of SELECTOR whose
`data-choice` is the selected value; an `<input data-filter="SELECTOR">` hides the elements of
SELECTOR that do not contain its text (an element's `data-task` when it has one, else its text).

Each page's Content-Security-Policy allows no script but its own: the templates' scripts
(`page.js`, `tokens.js`) by their sha256, computed here from the very text the page inlines, so a
script element that got into a page any other way (a task name, a doc's text) does not run.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from tuco_eval.render.tables import is_number
from tuco_eval.util.files import atomic_write_text


def svg_data_uri(svg_text: str) -> str:
    """A figure's SVG as a data URI (its ids cannot clash with the page's)."""
    start = svg_text.find("<svg")  # the XML declaration and DOCTYPE are not needed in a URI
    return "data:image/svg+xml;base64," + base64.b64encode(svg_text[max(start, 0) :].encode()).decode()


ENV = Environment(
    loader=PackageLoader("tuco_eval.render", "templates"),
    autoescape=True,
    trim_blocks=True,  # block tags on lines of their own leave no blank lines
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=StrictUndefined,  # a name a template expects and the page did not pass is an error
)
ENV.tests["number_cell"] = is_number  # the one numeric-cell rule (render.tables)
ENV.filters["svg_uri"] = svg_data_uri


@cache
def inline_script(name: str) -> Markup:
    """A script of `render/templates/`, as the page inlines it (markup from the templates only)."""
    source, _, _ = ENV.loader.get_source(ENV, name)
    return Markup(source)


def csp_hash(script: str) -> Markup:
    """The CSP source that allows exactly this inline script: 'sha256-<base64 digest>'."""
    digest = hashlib.sha256(str(script).encode("utf-8")).digest()
    return Markup(f"'sha256-{base64.b64encode(digest).decode()}'")  # base64 and quotes: nothing to escape


ENV.globals["inline_script"] = inline_script
ENV.filters["csp_hash"] = csp_hash


def render(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)


def write_page(path: Path, template: str, **context: Any) -> Path:
    """Render `template` with `context` and write it atomically; returns its path."""
    return atomic_write_text(path, render(template, **context))


Cell = Any  # text (right-aligned when `is_number`), or one of the cell types below


@dataclass(frozen=True)
class Table:
    """A table for `macros.html.j2`'s `table`: headers, rows of cells, a CSS class per row,
    and (title, columns spanned) of a header row above the headers (which sort)."""

    headers: list[str]
    rows: list[list[Cell]]
    row_classes: list[str] | None = None
    bands: list[tuple[str, int]] | None = None


@dataclass(frozen=True)
class Annotated:
    """A number with a star and a note below it (Δ_CV with its interval, a score with its error)."""

    kind: ClassVar[str] = "annotated"
    text: str
    star: bool = False
    note: str | None = None
    title: str | None = None  # shown on hover


@dataclass(frozen=True)
class Tag:
    """Text in a span of a CSS class (`fixed`, `broken`, `muted`)."""

    kind: ClassVar[str] = "tag"
    text: str
    css: str


@dataclass(frozen=True)
class TextBlock:
    """A long text (prompt, answer) kept readable: wrapped, scrollable, cut at `limit` characters."""

    kind: ClassVar[str] = "text"
    text: str
    limit: int = 2000

    @property
    def shown(self) -> str:
        if len(self.text) <= self.limit:
            return self.text
        return self.text[: self.limit] + f" … [{len(self.text) - self.limit} more characters]"


@dataclass(frozen=True)
class PairCell:
    """A pairs-matrix cell: the difference, coloured by `css` (win, loss, even), details on hover."""

    kind: ClassVar[str] = "pair"
    text: str
    css: str
    title: str
    p_adjusted: str


def relative_name(path: Path, base: Path) -> str:
    """A file next to the page, named relative to it (so the folder can move)."""
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else path.name

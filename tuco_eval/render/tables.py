"""Render a table of already formatted cells as Markdown (lm-eval `make_table` look), LaTeX, CSV.

Markdown is pytablewriter's, as lm-eval's own tables; CSV is the `csv` module's. LaTeX stays
written here: pytablewriter's LaTeX writers emit a math-mode `array` of `\\verb` cells (for
Jupyter), which does not compile in a document body, breaks on a `|` in a cell and has neither
caption nor booktabs rules.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

from pytablewriter import MarkdownTableWriter
from pytablewriter.style import Style
from pytablewriter.typehint import String

Row = Sequence[str]


MISSING = "–"  # a cell the row has no value for: it keeps a column of numbers right-aligned
_NUMBER = re.compile(r"\s*[+\-−]?\d+(\.\d+)?(e[+-]?\d+)?\s*[%*]?\s*(\(.*\)|\[.*\])?\s*\**", re.I)


def is_number(cell: str) -> bool:
    """The one rule for a cell that reads as a number, right-aligned in Markdown and HTML tables:
    a signed decimal with an optional exponent, unit or star and a note ("+1.23*", "40%",
    "+0.50 (20%)", "+1.20* (p 0.010)", "1e-05")."""
    return _NUMBER.fullmatch(cell) is not None


def markdown(headers: Row, rows: Sequence[Row]) -> str:
    """Pipe table by pytablewriter, as lm-eval's make_table: numeric columns right-aligned,
    headers centred, a `|` inside a cell escaped."""
    numeric = [bool(rows) and all(is_number(r[i]) or r[i].strip() == MISSING for r in rows) for i in range(len(headers))]
    writer = MarkdownTableWriter(
        headers=list(headers),
        value_matrix=[list(r) for r in rows],
        margin=0,
        type_hints=[String] * len(headers),  # cells come formatted: no re-reading "+5.00" as 5.000
        column_styles=[Style(align="right" if n else "left") for n in numeric],
    )
    return writer.dumps()


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters; α and Δ become math."""
    escaped = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)
    return escaped.replace("α", r"$\alpha$").replace("Δ", r"$\Delta$").replace("−", "-")


def latex(headers: Row, rows: Sequence[Row], caption: str = "") -> str:
    """A booktabs `table` environment (needs \\usepackage{booktabs})."""
    spec = "l" + "r" * (len(headers) - 1)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    lines.append(" & ".join(latex_escape(h) for h in headers) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(latex_escape(c) for c in r) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def csv_text(headers: Row, rows: Sequence[Row]) -> str:
    """RFC 4180 CSV with a header line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue()

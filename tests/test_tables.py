"""Tables: the Markdown reads back to the same cells with the right alignment; LaTeX escapes."""

from __future__ import annotations

import re

from tuco_eval.render import tables


def _cells(line: str) -> list[str]:
    # split a pipe-table row on the pipes that are not escaped, unescape the rest
    inner = line.strip()[1:-1]
    return [c.strip().replace(r"\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def test_markdown_reads_back_to_the_cells_unchanged():
    headers = ["Task", "α*", "Δ_CV", "n"]
    rows = [["a|b", "+5.00", "−1.50*", "1,000"], ["x_y", "1e-3", "–", "007"]]
    lines = tables.markdown(headers, rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert _cells(lines[0]) == headers
    # cells are already formatted: "+5.00" must not come back as 5.000, nor "1,000" as 1000
    assert [_cells(line) for line in lines[2:]] == rows


def test_markdown_right_aligns_numeric_columns_only():
    headers = ["Task", "Δ", "x"]
    rows = [["h1", "+10.00 (50%)", "7"], ["h2", "–", "y"]]
    rule = _cells(tables.markdown(headers, rows).splitlines()[1])
    assert [c.endswith(":") for c in rule] == [False, True, False]
    # every delimiter cell has a hyphen, even for a one-character column (GFM needs one)
    assert all(re.fullmatch(r":?-+:?", c) for c in rule)
    lines = tables.markdown(["n"], [["5"]]).splitlines()
    assert re.fullmatch(r"\|-+:\|", lines[1]) and lines[2].endswith("5|")


# cells as the report writes them, classified by hand: a number (with unit, star, note) or not
NUMBERS = ["+1.23*", "40%", "+0.50 (20%)", "+1.20* (p 0.010)", "1e-05", "−3.5", "12", "0.12 [x]"]
TEXTS = ["abc", "[+1.00, +2.00]", "1.0 1.1 1.25", "v1.5", "0.9–1.1", "–"]


def test_one_numeric_cell_rule_for_markdown_and_html():
    from tuco_eval.render.html_page import ENV, Table

    macro = ENV.from_string('{% import "macros.html.j2" as m %}{{ m.table(t) }}')

    def table(headers, rows):
        return macro.render(t=Table(headers, rows))

    assert [tables.is_number(c) for c in NUMBERS + TEXTS] == [True] * len(NUMBERS) + [False] * len(TEXTS)
    for cell in NUMBERS + TEXTS[:-1]:  # a column of one cell: right-aligned exactly when a number
        rule = _cells(tables.markdown(["x"], [[cell]]).splitlines()[1])
        right = rule[0].endswith(":")
        html = table(["x"], [[cell]])
        assert right == tables.is_number(cell) == ('<td class="num">' in html), cell
    # a missing value keeps a column of numbers numeric in Markdown; in HTML it is plain text
    assert _cells(tables.markdown(["x"], [["1.0"], ["–"]]).splitlines()[1])[0].endswith(":")
    assert '<td class="num">' not in table(["x"], [["–"]])


def test_markdown_of_no_rows_is_a_header_and_a_rule():
    lines = tables.markdown(["Task", "Δ"], []).splitlines()
    assert [_cells(lines[0]), len(lines)] == [["Task", "Δ"], 2]


def test_latex_escapes_the_special_characters():
    tex = tables.latex(["Task", "Δ"], [["a_b & c#d", "50%"], ["~^$", "−1.0"]], caption="α_1")
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    assert body == [r"a\_b \& c\#d & 50\% \\", r"\textasciitilde{}\^{}\$ & -1.0 \\"]
    assert r"\caption{$\alpha$\_1}" in tex and r"\begin{tabular}{lr}" in tex
    assert r"Task & $\Delta$ \\" in tex

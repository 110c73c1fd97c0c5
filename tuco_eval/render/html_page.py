"""One self-contained HTML page: inline CSS and JavaScript, figures as data URIs, every text escaped.

Shared by the `report` and `experiment` pages. Nothing on a page asks for anything outside the
file (no CDN, no web font, no external image), so it can be mailed or attached to a paper.
Tables with class `sortable` sort on a click on their last header row (numbers numerically, a
second click reverses); a `<select data-choices="SELECTOR">` shows the one element of SELECTOR
whose `data-choice` is the selected value; an `<input data-filter="SELECTOR">` hides the elements of SELECTOR that do not
contain its text (an element's `data-task` when it has one, else its text).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from tuco_eval.render.tables import is_number
from tuco_eval.util.files import atomic_write_text


class Raw(str):
    """Markup built here (already escaped): inserted as is by `table`."""


class Num(Raw):
    """Markup of a number with notes (already escaped): inserted as is, right-aligned."""


def esc(text: object) -> str:
    """Text as HTML, quotes included (safe in element content and in attribute values)."""
    return html.escape(str(text), quote=True)


def svg_figure(svg_text: str, caption: str) -> str:
    """A figure whose SVG travels inside the page as a data URI (its ids cannot clash)."""
    start = svg_text.find("<svg")  # the XML declaration and DOCTYPE are not needed in a URI
    data = base64.b64encode(svg_text[max(start, 0) :].encode()).decode()
    return (
        f'<figure><img src="data:image/svg+xml;base64,{data}" alt="{esc(caption)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    table_id: str | None = None,
    sortable: bool = True,
    row_attrs: Sequence[str] | None = None,
    bands: Sequence[tuple[str, int]] | None = None,
) -> str:
    """`<table>` with `<thead>` and `<tbody>`; `Raw` cells go in as they are, the rest escaped.
    ``bands``: (title, columns spanned) of a header row above ``headers`` (which sort)."""
    attrs = (f' id="{esc(table_id)}"' if table_id else "") + (
        ' class="sortable"' if sortable else ""
    )
    band = "".join(f'<th scope="colgroup" colspan="{n}">{esc(t)}</th>' for t, n in bands or [])
    band = f'<tr class="band">{band}</tr>' if bands else ""
    head = "".join(f'<th scope="col" title="click to sort">{esc(h)}</th>' for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f'<td class="num">{cell}</td>'
            if isinstance(cell, Num)
            else f"<td>{cell}</td>"
            if isinstance(cell, Raw)
            else f'<td class="num">{esc(cell)}</td>'
            if is_number(cell)
            else f"<td>{esc(cell)}</td>"
            for cell in row
        )
        extra = f" {row_attrs[i]}" if row_attrs else ""
        body.append(f"<tr{extra}>{cells}</tr>")
    return f"<table{attrs}><thead>{band}<tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def text_block(text: str, limit: int = 2000) -> Raw:
    """A long text (prompt, answer) kept readable: wrapped, scrollable, cut at ``limit`` chars."""
    cut = text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more characters]"
    return Raw(f'<div class="text">{esc(cut)}</div>')


def relative_link(path: Path, base: Path) -> Raw:
    """A link to a file next to the page (relative, so the folder can move)."""
    name = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.name
    return Raw(f'<a href="{esc(name)}">{esc(name)}</a>')


CSS = """
:root { --fg: #1d2430; --muted: #5b6575; --line: #d8dde6; --head: #eef1f6; --accent: #2f5fa7;
        --good: #1a7f37; --bad: #b42318; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); margin: 0 auto; padding: 1.2rem 2rem 4rem; max-width: 1400px; }
h1 { font-size: 1.6rem; margin: 0.2rem 0 0.4rem; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 0.6rem; padding-bottom: 0.2rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 0.4rem; }
p.note, .muted { color: var(--muted); font-size: 0.9rem; max-width: 75rem; }
nav { font-size: 0.9rem; margin-bottom: 0.6rem; }
nav a { margin-right: 1rem; }
a { color: var(--accent); }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.4rem 0 1rem; font-size: 0.88rem; }
th, td { border: 1px solid var(--line); padding: 0.25rem 0.55rem; vertical-align: top; white-space: nowrap; }
thead th { background: var(--head); position: sticky; top: 0; text-align: center; white-space: nowrap; }
table.sortable thead tr:last-child th { cursor: pointer; user-select: none; }
table.sortable thead tr:last-child th::after { content: " ↕"; color: #9aa3b2; font-size: 0.8em; }
table.sortable thead th[aria-sort="ascending"]::after { content: " ▲"; color: var(--accent); }
table.sortable thead th[aria-sort="descending"]::after { content: " ▼"; color: var(--accent); }
thead tr.band th { position: static; border-bottom: 2px solid #aab3c2; }
tr.base td { font-style: italic; }
.win, .loss { padding: 0.05rem 0.3rem; border-radius: 3px; font-weight: 700; }
td .win, td .loss, td .even { display: block; text-align: right; }
.win { background: #d6f0dc; color: var(--good); }
.loss { background: #fadcd9; color: var(--bad); }
select { font: inherit; padding: 0.2rem 0.4rem; }
tbody tr:nth-child(even) { background: #f8f9fb; }
tbody tr:hover { background: #eef4ff; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td:first-child { font-weight: 600; white-space: nowrap; }
.sig { color: var(--good); font-weight: 700; }
.ci { color: var(--muted); font-size: 0.85em; }
.fixed { color: var(--good); font-weight: 600; }
.broken { color: var(--bad); font-weight: 600; }
.text { white-space: pre-wrap; word-break: break-word; max-height: 9rem; overflow: auto; max-width: 44rem;
        font: 0.82rem/1.35 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-weight: 400; }
.figures { display: flex; flex-wrap: wrap; gap: 0.4rem 1.4rem; align-items: flex-start; }
figure { margin: 0.6rem 0 1.4rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); background: white; }
figcaption { color: var(--muted); font-size: 0.85rem; }
input[type=search] { font: inherit; padding: 0.3rem 0.5rem; width: 22rem; max-width: 100%;
                     border: 1px solid #aab3c2; border-radius: 4px; }
details { margin: 0.3rem 0; }
summary { cursor: pointer; }
dl.config { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1rem; font-size: 0.88rem; }
dl.config dt { font-weight: 600; }
dl.config dd { margin: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
"""

JS = """
(function () {
  "use strict";
  var MISSING = ["", "–", "—", "-"];
  function number(text) {
    var m = text.replace(/\\u2212/g, "-").match(/^[+-]?\\d+(\\.\\d+)?(e[+-]?\\d+)?/i);
    return m ? parseFloat(m[0]) : NaN;
  }
  function cellText(row, col) {
    var cell = row.cells[col];
    if (!cell) return "";
    return (cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent).trim();
  }
  function sortBy(table, th, col) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var descending = th.getAttribute("aria-sort") === "ascending";
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var texts = rows.map(function (r) { return cellText(r, col); });
    var present = texts.filter(function (t) { return MISSING.indexOf(t) < 0; });
    var numeric = present.length > 0 && present.every(function (t) { return !isNaN(number(t)); });
    var order = rows.map(function (_, i) { return i; });
    order.sort(function (a, b) {
      var ma = MISSING.indexOf(texts[a]) >= 0, mb = MISSING.indexOf(texts[b]) >= 0;
      if (ma || mb) return (ma - mb) || (a - b);  // empty cells stay last either way
      var c = numeric ? number(texts[a]) - number(texts[b])
                      : texts[a].localeCompare(texts[b], undefined, {numeric: true});
      return (descending ? -c : c) || (a - b);
    });
    order.forEach(function (i) { body.appendChild(rows[i]); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var head = table.tHead.rows[table.tHead.rows.length - 1];  // below any band row
    Array.prototype.forEach.call(head.cells, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, th, col); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th, col); }
      });
    });
  });
  document.querySelectorAll("select[data-choices]").forEach(function (select) {
    function show() {  // the one element of data-choices whose data-choice is selected
      document.querySelectorAll(select.dataset.choices).forEach(function (el) {
        el.hidden = el.dataset.choice !== select.value;
      });
    }
    select.addEventListener("change", show);
    show();
  });
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    input.addEventListener("input", function () {
      var query = input.value.trim().toLowerCase();
      document.querySelectorAll(input.dataset.filter).forEach(function (el) {
        var text = (el.dataset.task !== undefined ? el.dataset.task : el.textContent).toLowerCase();
        el.hidden = query !== "" && text.indexOf(query) < 0;
      });
    });
  });
})();
"""


def page(title: str, body: str) -> str:
    """The whole document: `body` is markup built with the helpers above."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # no request can leave the file: images only from data: URIs, no scripts from elsewhere
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body>\n{body}\n<script>{JS}</script>\n</body></html>\n"
    )


def write_page(path: Path, title: str, body: str) -> Path:
    """Write the page atomically; returns its path."""
    return atomic_write_text(path, page(title, body))

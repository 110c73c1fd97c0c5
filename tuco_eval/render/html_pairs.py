"""The report page's paired tests, per task or group: for the base and adjacent families a compact
table (one row per checkpoint: against the base, against the previous row), for the `all` family a
rows × rows matrix; significance after the report's correction marked. This module gathers the
values; the markup is render/templates/report_pairs.html.j2's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuco_eval.records.board_json import Board, BoardRow, PairTest
from tuco_eval.render.html_page import PairCell, Table

TESTS = {"mcnemar": "exact McNemar", "sign-flip": "sign-flip", "sign-flip-clusters": "sign-flip over clusters"}
SERIES_FAMILIES = ("base", "adjacent")  # shown as columns of one table, a row per checkpoint
HEADINGS = {"base": "vs base", "adjacent": "vs previous"}


@dataclass(frozen=True)
class Matrix:
    """One task's or group's table (compact, or the square); `name` is its selector value."""

    name: str
    caption: str
    table: Table


def detectable_words(entry: PairTest) -> str:
    """", detectable ≥ X points" of a test's smallest effect at 80 % power, where it has one."""
    mde = entry.mde
    return "" if mde is None else f", detectable ≥ {100 * mde:.2f} points (80 % power)"


def detectable_cell(pair: PairTest) -> str:
    """"n.s. (≥ X)" for a pair that is not significant: what this many docs could have shown."""
    if pair.significant:
        return ""
    mde = pair.mde
    return "n.s." if mde is None else f"n.s. (≥ {100 * mde:.2f})"


def _cell(pair: PairTest, flip: bool, objective: str, row: str, column: str) -> PairCell:
    """row − column: the stored pair is b − a, so a cell with row = a shows it negated."""
    sign = -1.0 if flip else 1.0
    diff = sign * pair.diff
    low, high = sorted(sign * x for x in pair.ci)
    better = diff > 0 if objective == "max" else diff < 0
    kind = ("win" if better else "loss") if pair.significant and diff != 0 else "even"
    title = (
        f"{row} − {column}: {100 * diff:+.2f} points, 95% CI [{100 * low:+.2f}, {100 * high:+.2f}], "
        f"{TESTS.get(pair.test, pair.test)} p = {pair.p:.4g}, adjusted p = {pair.p_adjusted:.4g}, "
        f"n = {pair.n}{detectable_words(pair)}"
    )
    mark = "*" if pair.significant else ""
    return PairCell(f"{100 * diff:+.2f}{mark}", kind, title, repr(pair.p_adjusted))


def _square(name: str, title: str, pairs: Sequence[PairTest], labels: Sequence[str], objective: str) -> Matrix:
    by_rows = {(p.a, p.b): p for p in pairs}
    present = [label for label in labels if any(label in (p.a, p.b) for p in pairs)]
    rows = []
    for row in present:
        cells: list[Any] = [row]
        for column in present:
            if (column, row) in by_rows:
                cells.append(_cell(by_rows[column, row], False, objective, row, column))
            elif (row, column) in by_rows:
                cells.append(_cell(by_rows[row, column], True, objective, row, column))
            else:
                cells.append("·" if row == column else "–")
        rows.append(cells)
    caption = f"{title}: every two rows, row − column in points; {_counts(pairs)}."
    return Matrix(name, caption, Table(["row − column", *present], rows))


def _counts(pairs: Sequence[PairTest]) -> str:
    first = pairs[0]
    return (f"{sum(p.significant for p in pairs)} of {len(pairs)} significant, n = {first.n} docs, "
            f"{TESTS.get(first.test, first.test)} test")


def _series(name: str, title: str, by_family: Mapping[str, Sequence[PairTest]], rows: Sequence[BoardRow],
            objective: str) -> Matrix:
    """A row per checkpoint: its difference from the base and from the row before, each with its
    interval, adjusted p and what could have been detected."""
    families = [f for f in SERIES_FAMILIES if f in by_family]
    found = {(f, p.b): p for f in families for p in by_family[f]}
    headers = ["checkpoint", "step"]
    for family in families:
        headers += [HEADINGS[family], "95% CI", "p adj.", "detectable"]
    body = []
    for row in rows:
        if not any((f, row.label) in found for f in families):
            continue
        cells: list[Any] = [row.label, "–" if row.step is None else str(row.step)]
        for family in families:
            pair = found.get((family, row.label))
            if pair is None:
                cells += ["–"] * 4
                continue
            cells += [
                _cell(pair, False, objective, pair.b, pair.a),
                "[{:+.2f}, {:+.2f}]".format(*(100 * x for x in pair.ci)),
                f"{pair.p_adjusted:.2g}",
                detectable_cell(pair),
            ]
        body.append(cells)
    counts = "; ".join(f"{HEADINGS[f]}: {_counts(by_family[f])}" for f in families)
    return Matrix(name, f"{title}: each checkpoint minus the row compared, in points. {counts}.", Table(headers, body))


def pairs_section(board: Board, group_names: Mapping[str, str]) -> dict[str, Any]:
    """The selector's options (value, display name, is a group) and, per group or task (groups
    first), its compact table (families base and adjacent) and its square (family all)."""
    rows = board.rows
    labels = [row.label for row in rows]
    found: dict[str, dict[str, list[PairTest]]] = {}
    levels: dict[str, str] = {}
    for level in ("group", "task"):
        for pair in board.pairs:
            if pair.level == level:
                found.setdefault(pair.task, {}).setdefault(pair.family, []).append(pair)
                levels[pair.task] = level
    views = []
    for name, by_family in found.items():
        title = group_names.get(name, name)
        tables = []
        if any(f in by_family for f in SERIES_FAMILIES):
            tables.append(_series(name, title, by_family, rows, board.objective))
        if "all" in by_family:
            tables.append(_square(name, title, by_family["all"], labels, board.objective))
        views.append((name, tables))
    return {
        "options": [(name, group_names.get(name, name), levels[name] == "group") for name in found],
        "views": views,
        "correction": board.correction["description"],
        "better": "higher" if board.objective == "max" else "lower",
        "prompts": board.prompts,
    }

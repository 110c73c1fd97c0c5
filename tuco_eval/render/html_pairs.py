"""The report page's paired tests: per task or group a rows × rows matrix of score differences,
which checkpoint beats which, the cells significant after Holm's correction marked. This module
gathers the values; the markup is render/templates/report.html.j2's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuco_eval.analysis.paired import FAMILIES
from tuco_eval.render.html_page import PairCell, Table

TESTS = {"mcnemar": "exact McNemar", "sign-flip": "sign-flip"}


@dataclass(frozen=True)
class Matrix:
    """One task's or group's matrix; `name` is what the page's selector shows it by."""

    name: str
    caption: str
    table: Table


def _cell(pair: Mapping, flip: bool, objective: str, row: str, column: str) -> PairCell:
    """row − column: the stored pair is b − a, so a cell with row = a shows it negated."""
    sign = -1.0 if flip else 1.0
    diff = sign * pair["diff"]
    low, high = sorted(sign * x for x in pair["ci"])
    better = diff > 0 if objective == "max" else diff < 0
    kind = ("win" if better else "loss") if pair["significant"] and diff != 0 else "even"
    title = (
        f"{row} − {column}: {100 * diff:+.2f} points, 95% CI [{100 * low:+.2f}, {100 * high:+.2f}], "
        f"{TESTS.get(pair['test'], pair['test'])} p = {pair['p']:.4g}, adjusted p = {pair['p_adjusted']:.4g}, "
        f"n = {pair['n']}{detectable_words(pair)}"
    )
    mark = "*" if pair["significant"] else ""
    return PairCell(f"{100 * diff:+.2f}{mark}", kind, title, repr(pair["p_adjusted"]))


def detectable_words(entry: Mapping) -> str:
    """", detectable ≥ X points" of a test's smallest effect at 80 % power, where it has one."""
    mde = entry.get("mde")
    return "" if mde is None else f", detectable ≥ {100 * mde:.2f} points (80 % power)"


def _matrix(name: str, title: str, pairs: Sequence[Mapping], labels: Sequence[str], objective: str) -> Matrix:
    by_rows = {(p["a"], p["b"]): p for p in pairs}
    present = [label for label in labels if any(label in (p["a"], p["b"]) for p in pairs)]
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
    first = pairs[0]
    test = TESTS.get(first["test"], first["test"])
    significant = sum(p["significant"] for p in pairs)
    caption = (
        f"{title} ({first['level']}, n = {first['n']} docs, {test} test; family: "
        f"{FAMILIES[first['family']]}, Holm over its {first['m']} pairs: {significant} significant)"
    )
    return Matrix(name, caption, Table(["row − column", *present], rows))


def pairs_section(board: Mapping, group_names: Mapping[str, str]) -> dict[str, Any]:
    """The selector's options (value, display name, is a group) and one matrix per family and
    group or task (groups first); ``group_names`` gives a group's display name. With one family
    a matrix's value is the task's name, with several ``<task>|<family>``."""
    pairs = board["pairs"]
    labels = [row["label"] for row in board["rows"]]
    families = board["pair_families"]
    found: dict[tuple[str, str], list[Mapping]] = {}
    for level in ("group", "task"):
        for pair in pairs:
            if pair["level"] == level:
                found.setdefault((pair["task"], pair["family"]), []).append(pair)

    def value(name: str, family: str) -> str:
        return name if len(families) == 1 else f"{name}|{family}"

    def shown(name: str, family: str) -> str:
        title = group_names.get(name, name)
        return title if len(families) == 1 else f"{title}: {FAMILIES[family]}"

    return {
        "options": [(value(*key), shown(*key), got[0]["level"] == "group") for key, got in found.items()],
        "matrices": [
            _matrix(value(*key), shown(*key), got, labels, board["objective"]) for key, got in found.items()
        ],
        "families": [FAMILIES[f] for f in families],
        "level": board["significance_level"],
        "better": "higher" if board["objective"] == "max" else "lower",
        "prompts": board.get("prompts") or {},
    }

"""The report page's paired tests: per task or group a rows × rows matrix of score differences,
which checkpoint beats which, the cells significant after Holm's correction marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tuco_eval.render.html_page import Raw, esc, table

TESTS = {"mcnemar": "exact McNemar", "sign-flip": "sign-flip"}


def _cell(pair: Mapping, flip: bool, objective: str, row: str, column: str) -> Raw:
    """row − column: the stored pair is b − a, so a cell with row = a shows it negated."""
    sign = -1.0 if flip else 1.0
    diff = sign * pair["diff"]
    low, high = sorted(sign * x for x in pair["ci"])
    better = diff > 0 if objective == "max" else diff < 0
    kind = ("win" if better else "loss") if pair["significant"] and diff != 0 else "even"
    title = (
        f"{row} − {column}: {100 * diff:+.2f} points, 95% CI [{100 * low:+.2f}, {100 * high:+.2f}], "
        f"{TESTS.get(pair['test'], pair['test'])} p = {pair['p']:.4g}, Holm p = {pair['p_holm']:.4g}, "
        f"n = {pair['n']}"
    )
    mark = "*" if pair["significant"] else ""
    return Raw(
        f'<span class="{kind}" title="{esc(title)}" data-p-holm="{pair["p_holm"]!r}">'
        f"{100 * diff:+.2f}{mark}</span>"
    )


def _matrix(
    name: str, title: str, pairs: Sequence[Mapping], labels: Sequence[str], objective: str
) -> str:
    by_rows = {(p["a"], p["b"]): p for p in pairs}
    present = [label for label in labels if any(label in (p["a"], p["b"]) for p in pairs)]
    rows = []
    for row in present:
        cells: list[str] = [row]
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
    caption = f"{title} ({first['level']}, n = {first['n']} docs, {test} test)"
    return (
        f'<div class="pairs-matrix" data-choice="{esc(name)}"><p class="note">{esc(caption)}</p>'
        f'<div class="scroll">{table(["row − column", *present], rows, sortable=False)}</div></div>'
    )


def pairs_section(board: Mapping, group_names: Mapping[str, str]) -> str:
    """The selector and one matrix per group and task (groups first); ``group_names`` gives a
    group's display name."""
    pairs = board["pairs"]
    if not pairs:
        return (
            '<p class="muted">Paired tests need at least two rows (checkpoints, or a checkpoint '
            "and the base) scored on the same task.</p>"
        )
    labels = [row["label"] for row in board["rows"]]
    names: dict[str, list[Mapping]] = {}
    for level in ("group", "task"):
        for pair in pairs:
            if pair["level"] == level:
                names.setdefault(pair["task"], []).append(pair)
    significant = sum(p["significant"] for p in pairs)
    options = "".join(
        f'<option value="{esc(name)}">{esc(group_names.get(name, name))}'
        f"{' (group)' if found[0]['level'] == 'group' else ''}</option>"
        for name, found in names.items()
    )
    better = "higher" if board["objective"] == "max" else "lower"
    note = (
        "<p class=\"note\">Each cell: the row's score minus the column's, in points (×100), on the "
        "same documents. Test: the exact McNemar test (two-sided binomial test of the docs only "
        "one of the two gets right) for 0/1 metrics, the paired sign-flip test otherwise; a "
        "group's difference is the mean of its tasks' differences (its score is the unweighted "
        "mean over tasks), tested by a sign-flip test of the per-doc differences weighted "
        "1/(tasks × docs of the task), its interval a bootstrap stratified by task. * = "
        f"significant after Holm's correction over the pairs of that task or group (p_holm < "
        f'{board["significance_level"]}); <span class="win">green</span>: the row is '
        f'significantly better ({better} is better), <span class="loss">red</span>: '
        "significantly worse. Hover a cell for its interval and p-values; every pair is in "
        f"pairs.csv and leaderboard.json. {significant} of {len(pairs)} comparisons are "
        "significant.</p>"
    )
    matrices = "".join(
        _matrix(name, group_names.get(name, name), found, labels, board["objective"])
        for name, found in names.items()
    )
    select = (
        '<p><label>Task or group: <select id="pairs-select" '
        f'data-choices="#s-pairs .pairs-matrix">{options}</select></label></p>'
    )
    return note + select + matrices

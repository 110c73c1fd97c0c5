"""The HTML pages of `report` and `experiment`, opened in headless Chromium: self-contained, no
console error, sortable and filterable tables, figures that load, and per-doc flips that match a
store built with known flips."""

from __future__ import annotations

import csv
import json

import pytest

from tests.helpers.report_runs import (
    CORRECT,
    HOSTILE,
    PERSONA_RIGHT,
    build_flip_run,
    build_run,
    experiment_records,
    persona_store,
)
from tuco_eval.analysis.flips import task_flips
from tuco_eval.experiments import plots as experiment_plots
from tuco_eval.experiments.page import sample_prompts, write_experiment_page
from tuco_eval.pipeline.report import report
from tuco_eval.render import html_report

# the flips of report_runs.FLIP_RIGHT, by hand
EXPECTED = {
    0.0: {"fixed": [9], "broken": [0, 1, 2]},
    0.9: {"fixed": [], "broken": []},
    1.1: {"fixed": [6, 7, 8], "broken": [4, 5]},
}


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    runs = [build_run(root / label, label) for label in CORRECT]
    runs.append(build_flip_run(root / "flipper"))
    report(runs, root / "out")
    return root / "out"


def test_flips_of_a_store_with_known_flips(tmp_path):
    run = build_flip_run(tmp_path / "run")
    alphas, flips = task_flips(run, "flip")
    assert alphas == [0.0, 0.9, 1.1]
    for alpha, kinds in EXPECTED.items():
        for kind, doc_ids in kinds.items():
            assert [f.doc_id for f in flips if f.alpha == alpha and f.kind == kind] == doc_ids
    six = next(f for f in flips if f.alpha == 1.1 and f.doc_id == 6)  # target "yes", fixed
    assert (six.target, six.answer_at_one, six.answer_at_alpha) == ("yes", "no", "yes")
    assert six.prompt == "question 6?" and (six.score_at_one, six.score_at_alpha) == (0.0, 1.0)


def test_flips_csv_lists_every_flip(report_dir):
    rows = list(csv.DictReader((report_dir / "flips.csv").open()))
    mine = [r for r in rows if r["checkpoint"] == "flipper"]
    for alpha, kinds in EXPECTED.items():
        for kind, doc_ids in kinds.items():
            found = [int(r["doc_id"]) for r in mine if float(r["alpha"]) == alpha and r["kind"] == kind]
            assert found == doc_ids
    assert next(r for r in mine if r["doc_id"] == "0")["prompt"] == HOSTILE  # CSV keeps raw text


def test_report_page_is_self_contained_and_escaped(report_dir):
    text = (report_dir / "index.html").read_text()
    assert HOSTILE not in text and "&lt;script&gt;window.hacked" in text
    assert text.count("<script>") == 1  # the page's own, nothing injected
    assert "http://" not in text and "https://" not in text  # no CDN, font or image from outside


def _column(page, table, header):
    headers = page.locator(f"{table} thead th").all_inner_texts()
    index = next(i for i, h in enumerate(headers) if h.replace("↕", "").replace("▲", "").replace("▼", "").strip() == header)
    return index, page.locator(f"{table} tbody tr:not([hidden]) td:nth-child({index + 1})").all_inner_texts()


def _leaderboard_column(page, band, cell):
    """Index of the sortable header `cell` ("score", "Δ_CV", "α", "TuCo") under the band `band`."""
    bands = page.locator("#leaderboard thead tr.band th")
    start = 0
    for i in range(bands.count()):
        if bands.nth(i).inner_text().strip() == band:
            heads = page.locator("#leaderboard thead tr:last-child th").all_inner_texts()
            names = [h.replace("↕", "").replace("▲", "").replace("▼", "").strip() for h in heads]
            return start + names[start:].index(cell)
        start += int(bands.nth(i).get_attribute("colspan"))
    raise AssertionError(f"no band {band!r}")


def _number(cell):
    return float(cell.replace("−", "-").split()[0].rstrip("*%"))


def test_report_page_in_chromium(report_dir, page_for):
    opened = page_for(report_dir / "index.html")
    page = opened.page
    assert opened.console_errors == []
    assert opened.outside_requests == []
    widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth)")
    assert len(widths) >= 6 and all(w > 0 for w in widths)  # every figure decodes
    assert page.evaluate("window.hacked") is None  # the hostile prompt stayed text
    assert HOSTILE in page.locator("#s-flips").text_content()  # inside a closed <details>
    assert page.locator("#leaderboard thead th").count() >= 4
    assert page.locator("#leaderboard tbody tr").count() == 3

    # sorting: numeric order ("+5.00" before "+20.00"), the second click reverses
    index, before = _column(page, "#tasks", "Δ CV")
    page.locator("#tasks thead th").nth(index).click()
    _, ascending = _column(page, "#tasks", "Δ CV")
    assert [_number(c) for c in ascending] == sorted(_number(c) for c in before)
    assert sorted(ascending) != ascending  # a text sort would have given another order
    page.locator("#tasks thead th").nth(index).click()
    _, descending = _column(page, "#tasks", "Δ CV")
    assert [_number(c) for c in descending] == sorted((_number(c) for c in before), reverse=True)
    col = _leaderboard_column(page, "Humanities", "Δ_CV")  # ckpt-A +10.00, ckpt-B +17.50
    heads = page.locator("#leaderboard thead tr:last-child th")
    heads.nth(col).click()
    assert page.locator("#leaderboard tbody tr td:first-child").all_inner_texts()[:2] == ["ckpt-A", "ckpt-B"]
    heads.nth(col).click()
    assert page.locator("#leaderboard tbody tr td:first-child").all_inner_texts()[:2] == ["ckpt-B", "ckpt-A"]

    # the filter hides the task rows (and flip lists) that do not match
    total = page.locator("#tasks tbody tr").count()
    page.fill("#task-filter", "h1")
    _, tasks = _column(page, "#tasks", "Task")
    assert tasks == ["h1", "h1"] and page.locator("#tasks tbody tr[hidden]").count() == total - 2
    assert page.locator("#s-flips details[data-task='flip']").first.is_hidden()
    page.fill("#task-filter", "")
    assert page.locator("#tasks tbody tr[hidden]").count() == 0

    # the flips listed are the store's
    for alpha, label in ((1.1, "α = 1.1"), (0.0, "α = 0 (base blocks)")):
        block = page.locator("#s-flips details", has_text=f"flipper · flip · {label}:")
        block.locator("summary").click()
        for kind, doc_ids in EXPECTED[alpha].items():
            rows = block.locator("tbody tr", has=page.locator(f"span.{kind}"))
            assert [int(d) for d in rows.locator("td:nth-child(2)").all_inner_texts()] == doc_ids
    counts = page.locator("#flip-counts tbody tr", has_text="flipper").all_inner_texts()
    assert any(r.split("\t")[2:5] == ["1.1", "3", "2"] for r in counts)
    assert opened.outside_requests == [] and opened.console_errors == []


@pytest.fixture(scope="module")
def experiment_dir(tmp_path_factory):
    from tuco_eval.experiments import summary as summ

    out = tmp_path_factory.mktemp("experiment")
    records = experiment_records()
    figures = experiment_plots.histograms(records, "web-vs-chat", out / "tuco_hist")
    figures += experiment_plots.layer_profiles(records, "web-vs-chat", out / "layer_profile")
    summary = {"experiment": "web-vs-chat", "finetuned": "ft", "base": "pt", "n": 10, "seed": 0,
               "sets": summ.set_statistics(records), "auc": summ.set_aucs(records, [("chat", "web")])}
    (out / "summary.json").write_text(json.dumps(summary))
    write_experiment_page(out, "web-vs-chat", records, summary, figures)
    return out, summary


def test_prompt_sample_spans_lowest_to_highest_tuco():
    records = experiment_records(n=20)
    sample = sample_prompts(records, per_set=4)
    for name in ("web", "chat"):
        values = sorted(r["tuco"] for r in records if r["set"] == name)
        shown = [r["tuco"] for r in sample if r["set"] == name]
        assert len(shown) == 4 and shown[0] == values[0] and shown[-1] == values[-1]


def test_experiment_page_in_chromium(experiment_dir, page_for):
    out, summary = experiment_dir
    opened = page_for(out / "index.html")
    page = opened.page
    assert opened.console_errors == [] and opened.outside_requests == []
    widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth)")
    assert len(widths) == 2 and all(w > 0 for w in widths)
    auc = next(e for e in summary["auc"] if e["metric"] == "tuco")["auc"]
    assert f"{auc:.3f}" in page.locator("#auc").inner_text()
    assert page.evaluate("window.hacked") is None and HOSTILE in page.locator("#prompts").inner_text()
    index, before = _column(page, "#prompts", "TuCo")
    page.locator("#prompts thead th").nth(index).click()
    _, after = _column(page, "#prompts", "TuCo")
    assert [float(c) for c in after] == sorted(float(c) for c in before)
    page.fill("#prompt-filter", "chat prompt")
    _, sets = _column(page, "#prompts", "set")
    assert sets and set(sets) == {"chat"}


def test_report_page_opens_on_the_lead_section(tmp_path, page_for):
    """The demo's findings (figure, Δ_CV max and min with intervals, TuCo) come first, render,
    and the page stays self-contained; on a synthetic store, no model."""
    from tuco_eval.analysis.run_cv import cross_validate
    from tuco_eval.demo.lead import demo_lead
    from tuco_eval.demo.run import accuracy_by_alpha, plot_persona

    run_max, run_min = persona_store(tmp_path / "max"), persona_store(tmp_path / "min")
    cv_max, cv_min = cross_validate(run_max, objective="max"), cross_validate(run_min, objective="min")
    agreement = {t: accuracy_by_alpha(run_max, t) for t in cv_max.tasks}
    figure = plot_persona(agreement, cv_max, cv_min, "synthetic", tmp_path / "out" / "persona_vs_alpha")[1]
    tuco = {"means": {"persona prompts": 0.072, "plain text": 0.027}, "auc": 0.99}
    persona = {"where": HOSTILE, "agreement": agreement, "cv_max": cv_max, "cv_min": cv_min, "tuco": tuco}
    categories = {"accuracy": {0.0: 0.5, 1.0: 0.96}, "cv": cv_max, "tuco": tuco}
    lead = demo_lead(persona, categories, tuple(PERSONA_RIGHT), figure)
    report([run_max], tmp_path / "out", lead=lead)

    opened = page_for(tmp_path / "out" / "index.html")
    page = opened.page
    assert page.locator("h1").inner_text() == "tuco-eval demo"
    assert page.locator("section").first.get_attribute("id") == "s-lead"
    assert page.locator("nav a").first.inner_text() == "What the demo shows"
    lead_img = page.locator("#s-lead img")
    assert lead_img.count() == 1 and lead_img.evaluate("e => e.complete && e.naturalWidth") > 0
    assert page.evaluate("window.hacked") is None and HOSTILE in page.locator("#s-lead").inner_text()
    rows = page.locator("#lead-cv tbody tr").all_inner_texts()
    for cv in (cv_max, cv_min):
        r = cv.tasks["tuco_demo_persona_narcissism"]
        objective = cv.config.objective
        row = next(x.split("\t") for x in rows if x.startswith("narcissism\t" + objective))
        assert row[4].rstrip("*") == f"{100 * r.delta_cv:+.1f}"
        assert row[5] == f"[{100 * r.ci95[0]:+.1f}, {100 * r.ci95[1]:+.1f}]"
    assert cv_max.tasks["tuco_demo_persona_narcissism"].delta_cv > 0
    assert cv_min.tasks["tuco_demo_persona_narcissism"].delta_cv < 0
    agreement_row = page.locator("#lead-agreement tbody tr", has_text="narcissism").inner_text().split("\t")
    assert agreement_row[1:] == [f"{100 * k / 40:.1f}" for _, k in sorted(PERSONA_RIGHT.items())]
    assert "0.072" in page.locator("#s-lead").inner_text()
    opened.assert_clean()


# --- the leaderboard's Δ_CV cell with its interval and mark (the numbers: test_intervals.py) -----

@pytest.mark.parametrize(("objective", "sign"), [("max", 1.0), ("min", -1.0)])
def test_delta_cell_shows_the_group_interval_in_points_and_its_mark(objective, sign):
    from tests.helpers.report_runs import interval_run
    from tuco_eval.analysis.leaderboard import column_kind, leaderboard_columns, runs_metric
    from tuco_eval.records.board_json import BOARD_FORMAT, Board
    from tuco_eval.records.report import Report
    from tuco_eval.render.html_page import ENV, Table
    from tuco_eval.stats.multiplicity import CORRECTIONS, DEFAULT_CORRECTION

    table = ENV.from_string('{% import "macros.html.j2" as m %}{{ m.table(t) }}')

    class OneCell:  # the cell as the table macro writes it
        @staticmethod
        def render(c):
            page = table.render(t=Table(["h"], [[c]]))
            return page[page.index("<tbody><tr>") + len("<tbody><tr>"):page.index("</tr></tbody>")]

    cell = OneCell
    runs = [interval_run(objective, sign)]
    board = Board(format=BOARD_FORMAT, correction={"method": DEFAULT_CORRECTION,
                                                   "description": CORRECTIONS[DEFAULT_CORRECTION]},
                  metric="acc", objective=objective, level=0.95, significance_level=0.05, seed=0, n_boot=1000,
                  prompts={"unchecked": [], "differ": []}, rows=[], pairs=[], pair_families=[], family_counts=[])
    columns = leaderboard_columns(runs)
    model = Report(runs=runs, board=board, columns=columns, column_kind=column_kind(runs),
                   metric=runs_metric(runs), correction=CORRECTIONS[DEFAULT_CORRECTION], group_curves={},
                   flips={}, settings={}, lm_eval={})
    cells = {k: cell.render(c=v) for k, v in html_report._delta_cells(model).items()}
    both = "[{:+.2f}, {:+.2f}]".format(*sorted([sign * 0.81, sign * 5.19]))  # by hand, test_intervals
    assert f'<span class="sig">*</span><br><span class="ci">{both}</span></td>' in cells["hand", "both"]
    only_b = "[{:+.2f}, {:+.2f}]".format(*sorted([sign * -1.92, sign * 5.92]))
    assert f'<br><span class="ci">{only_b}</span></td>' in cells["hand", "only_b"]
    assert "sig" not in cells["hand", "only_b"]

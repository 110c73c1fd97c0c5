"""The pages' Content-Security-Policy runs their own scripts only: no 'unsafe-inline' for scripts,
the templates' scripts allowed by their sha256. In headless Chromium: a `<script>` in a task's
text or a label stays text, one smuggled into the file does not run, the page's sorting still
does; with the old policy the smuggled script runs, so the check can see one run."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from tests.helpers.browser import LocalPage
from tests.helpers.report_runs import HOSTILE, build_flip_run, build_run
from tuco_eval.pipeline.report import report
from tuco_eval.render.token_page import render_token_page
from tuco_eval.store import run_json

HOSTILE_LABEL = "<script>window.hacked = 2</script>"
SMUGGLED = "<script>window.hacked = 3</script><img src=x onerror='window.hacked = 4'>"
OLD_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


@pytest.fixture(scope="module")
def page_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("policy")
    run_json.update_run_info(root / "flipper", {"label": HOSTILE_LABEL})  # first writer's label wins
    runs = [build_run(root / "ckpt-A", "ckpt-A"), build_flip_run(root / "flipper")]
    report(runs, root / "out")
    return root / "out" / "index.html"


def _policy(html: str) -> dict[str, list[str]]:
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert meta, "the page has no Content-Security-Policy"
    pairs = [part.split() for part in meta.group(1).split(";") if part.strip()]
    return {p[0]: p[1:] for p in pairs}


def _inline_script_hashes(html: str) -> list[str]:
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts]


TOKEN_RECORD = {"id": "p0", "tuco": 0.2, "n_tokens": 2, "tokens": ["<script>", "x"],
                "tuco_per_token": [0.1, 0.2]}


@pytest.mark.parametrize("kind", ["report", "tokens"])
def test_the_policy_allows_exactly_the_pages_own_scripts(kind, page_path):
    html = page_path.read_text() if kind == "report" else render_token_page([TOKEN_RECORD], {"m": "x"})
    policy = _policy(html)
    hashes = _inline_script_hashes(html)
    assert len(hashes) == 1
    assert policy["script-src"] == hashes  # by hash only: no 'unsafe-inline', no other source
    assert policy["default-src"] == ["'none'"]


def _sorts(page) -> bool:
    """page.js ran: a click on the task table's first header sorts the rows by task."""
    cells = "#tasks tbody tr td:first-child"
    page.locator("#tasks thead tr:last-child th").first.click()
    first = page.locator(cells).all_inner_texts()
    page.locator("#tasks thead tr:last-child th").first.click()
    second = page.locator(cells).all_inner_texts()
    return first == sorted(first) and second == sorted(first, reverse=True) and first != second


def test_script_in_a_label_or_a_doc_stays_text_and_the_page_still_sorts(page_path, page_for):
    opened = page_for(page_path)  # fails on any console error, a policy refusal included
    page = opened.page
    assert page.evaluate("window.hacked") is None
    assert HOSTILE_LABEL in page.locator("#leaderboard").inner_text()
    assert HOSTILE in page.locator("#s-flips").text_content()
    assert _sorts(page)


def test_a_script_smuggled_into_the_file_does_not_run(page_path, browser, tmp_path):
    html = page_path.read_text().replace("<body>", "<body>" + SMUGGLED, 1)
    smuggled = tmp_path / "smuggled.html"
    smuggled.write_text(html)
    opened = LocalPage(browser, smuggled)
    try:
        assert opened.page.evaluate("window.hacked") is None
        assert _sorts(opened.page)  # the page's own script is untouched by the refusal
        assert opened.console_errors and all("Content Security Policy" in e for e in opened.console_errors)
    finally:
        opened.context.close()

    old = tmp_path / "old_policy.html"  # the control: 'unsafe-inline' lets the smuggled script run
    old.write_text(re.sub(r'(http-equiv="Content-Security-Policy" content=")[^"]*', rf"\g<1>{OLD_POLICY}", html))
    control = LocalPage(browser, old)
    try:
        assert control.page.evaluate("window.hacked") in (3, 4)
    finally:
        control.context.close()

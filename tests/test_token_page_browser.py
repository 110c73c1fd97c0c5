"""The token page of `score --html` in a real browser (headless Chromium): self-contained, hoverable."""

from __future__ import annotations

import pytest

from tuco_eval.core.pair import load_pair
from tuco_eval.core.tuco import compute_tuco
from tuco_eval.render.token_page import write_token_page

TEXTS = ["the quick brown fox jumps over", "Question: what is fine-tuning?\nIt changes a model."]


@pytest.fixture(scope="module")
def token_page(pair_dirs, tmp_path_factory):
    pair = load_pair(*pair_dirs)
    records = compute_tuco(pair.joint, pair.tokenizer, TEXTS, generate=3, alpha=1.2, progress=False)
    for number, record in enumerate(records):
        record["id"] = f"p{number}"
    path = tmp_path_factory.mktemp("page") / "tokens.html"
    write_token_page(path, records, {"fine-tuned": pair_dirs[0], "base": pair_dirs[1]})
    return path, records


def test_token_page_renders_each_token_with_its_tuco_and_shows_it_on_hover(page_for, token_page):
    path, records = token_page
    opened = page_for(path)
    page = opened.page
    tokens = page.locator(".tok")
    values = [v for r in records for v in r["tuco_per_token"]]
    assert tokens.count() == len(values)
    shown = [float(v) for v in tokens.evaluate_all("els => els.map(e => e.dataset.tuco)")]
    assert shown == pytest.approx(values, abs=1e-6)
    assert page.locator(".tok.resp").count() == sum(r["n_response_tokens"] for r in records)
    assert page.locator(".legend .bar").is_visible()

    # hover the first response token of the first prompt: the tooltip names its TuCo
    target = records[0]["n_tokens"]
    token = page.locator("section").nth(0).locator(".tok").nth(target)
    token.hover()
    tip = page.locator("#tip")
    assert tip.is_visible()
    assert f"TuCo {records[0]['tuco_per_token'][target]:.4f}" in tip.inner_text()
    assert "response" in tip.inner_text()
    # tokens are shaded: the most fine-tuned token is darker than the least
    colours = tokens.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    lowest, highest = values.index(min(values)), values.index(max(values))
    assert colours[lowest] != colours[highest]
    opened.assert_clean()
    assert opened.requests == [opened.url]  # the file, and nothing else


def test_the_browser_fixture_reports_requests_outside_the_file(page_for, tmp_path):
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<!doctype html><img src="https://example.com/x.png"><script>x.y</script>')
    opened = page_for(leaky)
    assert opened.outside_requests == ["https://example.com/x.png"]  # blocked, and seen
    assert any("uncaught" in e for e in opened.console_errors)
    opened.console_errors.clear()
    opened.requests.remove("https://example.com/x.png")  # so that this test's teardown passes

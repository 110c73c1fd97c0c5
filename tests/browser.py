"""A headless Chromium for page tests: opens a local file, records console errors and every request.

Debian's /usr/bin/chromium driven by Playwright; a test that needs it skips, saying why, where
either is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("TUCO_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Opened:
    """A page opened from a file, with what it logged and asked for while loading and after."""

    page: Any
    url: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def outside_requests(self) -> list[str]:
        """Requests for anything but the page file itself (data: URIs never reach the network)."""
        return [r for r in self.requests if r != self.url and not r.startswith("data:")]


class Browser:
    def __init__(self, browser: Any):
        self.browser = browser

    @contextmanager
    def open(self, path: Path, width: int = 1400, height: int = 900) -> Iterator[Opened]:
        page = self.browser.new_page(viewport={"width": width, "height": height})
        opened = Opened(page=page, url=Path(path).resolve().as_uri())
        page.on("console", lambda m: m.type == "error" and opened.console_errors.append(m.text))
        page.on("pageerror", lambda e: opened.console_errors.append(str(e)))
        page.on("request", lambda r: opened.requests.append(r.url))
        page.goto(opened.url, wait_until="load")
        try:
            yield opened
        finally:
            page.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Session-wide headless Chromium, or a skip naming what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set TUCO_CHROMIUM)")
    with sync_playwright() as driver:
        try:
            chromium = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as err:  # noqa: BLE001 - any launch failure means: no browser here
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {str(err).splitlines()[0]}")
        try:
            yield Browser(chromium)
        finally:
            chromium.close()

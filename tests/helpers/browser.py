"""A real browser: headless Chromium (Debian's package) driven by Playwright, offline, and a local
file opened in it with every outside request blocked. The `browser` and `page_for` fixtures
(tests/conftest.py) wrap these; scripts/page_screenshots.py launches its own."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers.ci_policy import missing

CHROMIUM_ENV = "TUCO_CHROMIUM"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def launch_browser():
    """(Playwright driver, Chromium browser), or a skip saying why (under CI=true a failure)."""
    chromium = os.environ.get(CHROMIUM_ENV, "/usr/bin/chromium")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install playwright; no browser download needed)")
    if not Path(chromium).is_file():
        missing(f"no Chromium at {chromium} (apt-get install chromium, or set ${CHROMIUM_ENV})")
    driver = sync_playwright().start()
    try:
        return driver, driver.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    except Error as error:
        driver.stop()
        missing(f"Chromium at {chromium} does not start: {str(error).splitlines()[0]}")


class LocalPage:
    """A local file opened in the browser; every request outside it is blocked and recorded."""

    def __init__(self, browser, path: Path, viewport: dict | None = None):
        self.url = Path(path).resolve().as_uri()
        self.console_errors: list[str] = []
        self.requests: list[str] = []  # every request the page made, the file itself included
        self.context = browser.new_context(viewport=viewport or {"width": 1200, "height": 800})
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(f"uncaught: {e}"))
        self.page.route("**/*", self._route)
        self.page.goto(self.url, wait_until="load")

    def _route(self, route) -> None:
        self.requests.append(route.request.url)
        if route.request.url == self.url:
            route.continue_()
        else:
            route.abort()  # nothing leaves the machine, and the test sees it

    @property
    def outside_requests(self) -> list[str]:
        return [url for url in self.requests if url != self.url]

    def assert_clean(self) -> None:
        """No console error and no request outside the file, so far."""
        assert not self.console_errors, f"console errors: {self.console_errors}"
        assert not self.outside_requests, f"requests outside {self.url}: {self.outside_requests}"

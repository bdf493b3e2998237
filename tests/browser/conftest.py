"""Debian's Chromium, driven by Playwright, for every browser test: one `browser` per session.

Playwright's own browser download is never used (no `playwright install`). Without /usr/bin/chromium every
test asking for `browser` is skipped, and the end of the run says so in capitals, so a green run without a
browser is never mistaken for a tested wall.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

# Debian's; CHROMIUM=/path overrides it (another distribution's package, or a missing path to see the skip).
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SKIP_REASON = (
    f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing. Install Debian's chromium (apt-get install chromium; "
    ".ci/run does it when run as root) to test the wall in a real browser."
)

_skipped: list[str] = []


def chromium_available() -> bool:
    return CHROMIUM.is_file()


def require_chromium() -> None:
    """Skip the calling test, loudly, when Debian's Chromium is not installed."""
    if not chromium_available():
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the session; pages and contexts are the tests' own to open and close."""
    require_chromium()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple) and SKIP_REASON in str(report.longrepr[2]):
        _skipped.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.section("BROWSER TESTS NOT RUN", sep="!", red=True, bold=True)
        terminalreporter.write_line(SKIP_REASON, red=True, bold=True)
        for nodeid in _skipped:
            terminalreporter.write_line(f"  skipped: {nodeid}", red=True)

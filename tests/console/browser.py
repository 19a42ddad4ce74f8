"""Debian's Chromium driven by Playwright, the accessibility check, and screenshots.

Playwright's own browser download does not work on these machines: the tests
launch ``/usr/bin/chromium`` (installed by ``make browser``, which ``make test``
runs). When it is missing the tests fail with that message; they never skip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
#: where each page's screenshot is saved (the README shows two of them)
SHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"
#: axe-core impacts the console must not have
BLOCKING = ("serious", "critical")

_MESSAGE_NO_CHROMIUM = (
    f"{CHROMIUM} is missing: the browser tests need Debian's chromium package"
    " (make browser installs it with apt-get)"
)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium; fails (never skips) when it is not installed."""
    assert CHROMIUM.exists(), _MESSAGE_NO_CHROMIUM
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()


def accessibility_problems(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now.

    The checker is evaluated through the DevTools protocol, which the page's
    Content-Security-Policy does not govern, so the page's own policy stays strict.
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
    )
    return [v for v in found if v["impact"] in BLOCKING]


def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot under ``build/console-screenshots``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def check_page(page: Page, name: str) -> None:
    """Screenshot the page and assert axe finds nothing serious or critical on it."""
    shoot(page, name)
    problems = accessibility_problems(page)
    assert not problems, f"{name} ({page.url}): {problems}"

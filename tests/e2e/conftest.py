"""What every browser test shares: Debian's Chromium driven by Playwright, a page, and sign-in.

Playwright's browsers are never downloaded (no `playwright install`); the tests drive the
system Chromium and skip when it or the Playwright package is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "pw-for-tests"  # what tests.factories.UserFactory sets


@pytest.fixture
def browser(monkeypatch):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # made before and after pages load, never concurrently. Function scope keeps that loop,
    # and this setting, out of the tests that run after the browser tests.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
            # While Playwright's loop runs, Django keeps this thread's connections per async
            # context, so the test's own queries opened a connection of their own: close it
            # here, in that context, or it outlives the test database.
            connections.close_all()


CSP_WORDS = ("Content Security Policy", "Content-Security-Policy", "Permissions-Policy")


@pytest.fixture
def csp_violations() -> list[str]:
    """Console messages in which the browser reports a blocked resource or script (CSP)."""
    return []


@pytest.fixture
def page(browser, csp_violations):
    """A page; a Content-Security-Policy violation on it fails the test that used it."""
    p = browser.new_page(viewport={"width": 1366, "height": 768})

    def on_console(message) -> None:
        if any(word in message.text for word in CSP_WORDS):
            csp_violations.append(f"{message.type}: {message.text} ({p.url})")

    p.on("console", on_console)
    yield p
    assert not csp_violations, "CSP violations:\n" + "\n".join(csp_violations)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots land here (git-ignored) for a human to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _sign_in(page, live_server, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


@pytest.fixture
def sign_in() -> Callable[..., None]:
    """`sign_in(page, live_server, username, password=PASSWORD)` through the login form."""
    return _sign_in

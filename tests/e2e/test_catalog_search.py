"""Search the catalog in a real browser, narrow by a facet, open an entry, draft one.

Screenshots go to test-artifacts/ (catalog-*.png) for a human to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from catalog.transfer import catalog_import
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM", "/usr/bin/chromium")
STARTER = Path(__file__).resolve().parents[2] / "catalog" / "fixtures" / "starter_catalog.json"


@pytest.fixture
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )  # fmt: skip
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def catalog_data(db):
    import json

    for name, role in [
        ("edith", "catalog_editor"),
        ("emil", "catalog_editor"),
        ("sam", "engineer"),
    ]:
        UserFactory(username=name, roles=[role])
    catalog_import(data=json.loads(STARTER.read_text()))


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_search_narrow_by_facet_and_open_entry(live_server, browser, catalog_data):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, live_server.url, "sam")

    # The top-bar search box works from any page.
    page.goto(f"{live_server.url}/catalog/stewardship/")
    page.fill("#topbar-q", "drift")
    page.press("#topbar-q", "Enter")
    page.wait_for_load_state("networkidle")
    assert page.locator(".result").count() >= 3
    count_before = page.locator(".result").count()
    page.screenshot(path=str(ARTIFACTS / "catalog-search.png"), full_page=False)

    # Narrow by the severity facet: S2 only.
    facet = page.locator('a[data-facet="severity:S2"]')
    facet_count = int(facet.locator(".count").inner_text())
    facet.click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".result").count() == facet_count < count_before
    assert page.locator('a[data-facet="severity:S2"][aria-pressed="true"]').count() == 1
    for badge in page.locator(".result .result-head .badge").all_inner_texts()[:1]:
        assert badge == "S2"
    page.screenshot(path=str(ARTIFACTS / "catalog-facet.png"), full_page=False)

    # A typo still finds the calibration entry.
    page.fill("#q", "calibraton")
    page.press("#q", "Enter")
    page.wait_for_load_state("networkidle")
    # The S2 filter is still on; clear it and the typo still finds the calibration entry.
    page.click("text=Clear filters")
    page.wait_for_load_state("networkidle")
    first = page.locator(".result-title").first
    assert "calibration" in first.inner_text().lower()

    # Open the entry: the summary comes first, then details, the chart, and history.
    first.click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text().startswith("Overconfidence after retraining")
    assert page.locator(".summary-card .lead").is_visible()
    assert page.locator("svg[role=img]").count() == 1
    page.screenshot(path=str(ARTIFACTS / "catalog-entry.png"), full_page=True)


def test_draft_form_points_out_duplicates(live_server, browser, catalog_data):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/catalog/new/")
    page.fill("input[name=title]", "Currency mix drift after launch")
    page.wait_for_selector("#duplicates .callout", timeout=5000)
    assert "Currency mix drift after a new market launch" in page.inner_text("#duplicates")
    page.click("form.entry-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".field-error").count() >= 1  # summary and category are required
    page.screenshot(path=str(ARTIFACTS / "catalog-draft-form.png"), full_page=False)

"""Search the catalog in a real browser, narrow by a facet, open an entry, draft one.

Screenshots go to test-artifacts/ (catalog-*.png) for a human to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.transfer import catalog_import
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STARTER = Path(__file__).resolve().parents[2] / "catalog" / "fixtures" / "starter_catalog.json"


@pytest.fixture
def catalog_data(db):
    import json

    for name, role in [
        ("edith", "catalog_editor"),
        ("emil", "catalog_editor"),
        ("sam", "engineer"),
    ]:
        UserFactory(username=name, roles=[role])
    # As manage.py load_catalog loads it: statuses restored through the workflow.
    catalog_import(data=json.loads(STARTER.read_text()), restore_status=True)


def test_search_narrow_by_facet_and_open_entry(live_server, page, sign_in, artifacts, catalog_data):
    sign_in(page, live_server, "sam")

    # The top-bar search box works from any page.
    page.goto(f"{live_server.url}/catalog/stewardship/")
    page.fill("#topbar-q", "drift")
    page.press("#topbar-q", "Enter")
    page.wait_for_load_state("networkidle")
    assert page.locator(".result").count() >= 3
    count_before = page.locator(".result").count()
    page.screenshot(path=str(artifacts / "catalog-search.png"), full_page=False)

    # Narrow by the severity facet: S2 only.
    facet = page.locator('a[data-facet="severity:S2"]')
    facet_count = int(facet.locator(".count").inner_text())
    facet.click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".result").count() == facet_count < count_before
    assert page.locator('a[data-facet="severity:S2"][aria-pressed="true"]').count() == 1
    for badge in page.locator(".result .result-head .badge").all_inner_texts()[:1]:
        assert badge == "S2"
    page.screenshot(path=str(artifacts / "catalog-facet.png"), full_page=False)

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
    page.screenshot(path=str(artifacts / "catalog-entry.png"), full_page=True)


def test_draft_form_points_out_duplicates(live_server, page, sign_in, artifacts, catalog_data):
    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/catalog/new/")
    page.fill("input[name=title]", "Currency mix drift after launch")
    page.wait_for_selector("#duplicates .callout", timeout=5000)
    assert "Currency mix drift after a new market launch" in page.inner_text("#duplicates")
    page.click("form.entry-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".field-error").count() >= 1  # summary and category are required
    page.screenshot(path=str(artifacts / "catalog-draft-form.png"), full_page=False)


def test_results_show_before_the_facet_counts(live_server, page, sign_in, artifacts, catalog_data):
    """The results are on screen while the facet panel is still counting; then it fills in."""
    import re

    sign_in(page, live_server, "sam")
    held = []
    page.route(re.compile(r"/catalog/facets/"), lambda route: held.append(route))
    page.goto(f"{live_server.url}/catalog/?q=drift")
    assert page.locator(".result").count() >= 3
    while not held:
        page.wait_for_timeout(20)
    assert page.locator("#facet-groups[aria-busy=true]").count() == 1
    assert page.locator("a[data-facet]").count() == 0
    page.screenshot(path=str(artifacts / "catalog-facets-counting.png"), full_page=False)
    held[0].continue_()
    page.wait_for_selector('a[data-facet="severity:S2"]')
    assert page.locator("#facet-groups[aria-busy]").count() == 0
    assert int(page.locator('a[data-facet="severity:S2"] .count').inner_text()) >= 1


def test_published_entry_edit_waits_for_another_editor(
    live_server, page, sign_in, artifacts, catalog_data
):
    from catalog.models import FailureMode

    fm = FailureMode.objects.filter(status="published").order_by("slug").first()
    published_summary = fm.summary
    sign_in(page, live_server, "edith")
    page.goto(f"{live_server.url}/catalog/f/{fm.slug}/edit/")
    assert "This entry is published" in page.locator(".callout").inner_text()
    page.fill("#id_summary", "A clearer summary, proposed in the browser.")
    page.click("text=Propose revision")
    page.wait_for_load_state("networkidle")
    banner = page.locator(".pending-revision")
    assert "A revision is waiting for review." in banner.inner_text()
    assert page.locator(".summary-card .lead").inner_text() == published_summary
    assert page.locator("text=Publish revision").count() == 0
    page.locator(".pending-revision summary").click()
    page.screenshot(path=str(artifacts / "catalog-pending-revision.png"), full_page=False)

    page.context.clear_cookies()
    sign_in(page, live_server, "emil")
    page.goto(f"{live_server.url}/catalog/f/{fm.slug}/")
    page.click("text=Publish revision")
    page.wait_for_load_state("networkidle")
    assert page.locator(".summary-card .lead").inner_text() == (
        "A clearer summary, proposed in the browser."
    )
    assert page.locator(".pending-revision").count() == 0

"""Look at the dashboards in a real browser and keep screenshots in test-artifacts/."""

from __future__ import annotations

import pytest

from tests.dashboards import scenario
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_committee_member_reads_the_overview_and_a_model_page(
    live_server, page, sign_in, artifacts
):
    scenario.build()
    UserFactory(username="cora", roles=["committee"])
    sign_in(page, live_server, "cora")

    page.goto(f"{live_server.url}/dashboards/")
    page.screenshot(path=str(artifacts / "dashboards-overview.png"), full_page=True)
    assert page.locator("nav.sections a.current").inner_text() == "Dashboards"
    rows = page.locator("table.dash-table tbody tr")
    assert rows.count() == 2
    fraud_row = rows.filter(has_text="Card fraud")
    assert fraud_row.locator(".badge", has_text="Persistent shift").count() == 1

    fraud_row.locator("a").first.click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts / "dashboards-model.png"), full_page=True)
    page.screenshot(path=str(artifacts / "dashboards-model-first-screen.png"))
    assert page.locator("h1").inner_text().startswith("Card fraud")
    # The threshold change is drawn on the rate chart and the shift is listed above it.
    assert page.locator("svg text.policy-label", has_text="threshold 0.78").count() == 1
    assert page.locator(".episodes .badge", has_text="Persistent shift").count() >= 1
    assert page.locator(".episodes .badge", has_text="Spike").count() >= 1
    # Hover titles on points; calibration drawn with its threshold.
    assert page.locator("#uncertain-rate svg rect.mark-shift title").count() >= 3
    assert page.locator("#calibration svg rect.bar").count() >= 4

    # "Show data" opens the same numbers as a table.
    page.locator("#uncertain-rate details.show-data summary").click()
    assert page.locator("#uncertain-rate details.show-data table tbody tr").count() == 24

    page.goto(f"{live_server.url}/dashboards/models/card-fraud/?range=7d")
    page.screenshot(path=str(artifacts / "dashboards-model-7d.png"), full_page=True)

"""A lead opens the alerts page, opens an alert and acknowledges it with a note; screenshots
kept for a person to look at."""

from __future__ import annotations

import pytest
from django.utils import timezone

from reviewapp.failsafe.models import Alert, ModeChange
from tests.factories import MLModelFactory, UserFactory
from tests.failsafe.alert_helpers import make_alert

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_lead_acknowledges_an_alert_with_a_note(live_server, page, sign_in, artifacts):
    UserFactory(username="lee", roles=["lead"])
    fraud = MLModelFactory(slug="card-fraud")
    churn = MLModelFactory(slug="churn")
    alert = make_alert(fraud)
    ModeChange.objects.create(
        model=fraud, from_mode="normal", to_mode="contained", monitor="uncertain_rate",
        reason="Monitor uncertain_rate: 0.42 > 0.15 for 30 min (persistent shift)", alert=alert,
    )  # fmt: skip
    make_alert(churn, monitor="silence", severity="S2", shape="spike", action_taken="", value=0.08,
               rule={"metric": "silence", "op": "<", "bound": 0.2, "duration_minutes": 30,
                     "severity": "S2", "action": "notify"}, minutes_ago=12)  # fmt: skip
    make_alert(fraud, monitor="ood_rate", severity="S3", state="resolved",
               resolved_at=timezone.now(), minutes_ago=600)  # fmt: skip

    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/failsafe/alerts/")
    assert page.locator("h1").inner_text() == "Alerts"
    rows = page.locator("table.alerts-table tbody tr")
    assert rows.count() == 3
    assert "Open" in rows.nth(0).inner_text() and "Resolved" in rows.nth(2).inner_text()
    page.screenshot(path=str(artifacts / "failsafe-alerts-list.png"), full_page=True)

    page.click(f"a[href='/failsafe/alerts/{alert.pk}/']")
    page.wait_for_load_state("networkidle")
    assert "uncertain rate: 0.42 > 0.15" in page.locator(".alert-summary").inner_text()
    page.fill("#ack-note", "Upstream feature pipeline changed; data team paged.")
    page.screenshot(path=str(artifacts / "failsafe-alert-before-ack.png"), full_page=True)
    page.click("button:has-text('Acknowledge')")
    page.wait_for_load_state("networkidle")
    summary = page.locator(".alert-summary").inner_text()
    assert "Acknowledged by lee" in summary
    assert "data team paged" in summary
    assert "it is yours now" in page.locator(".messages").inner_text()
    assert page.locator("button:has-text('Acknowledge')").count() == 0
    assert "Alert acknowledged" in page.locator(".alert-history table").inner_text()
    page.screenshot(path=str(artifacts / "failsafe-alert-acknowledged.png"), full_page=True)

    alert.refresh_from_db()
    assert alert.state == Alert.State.ACKNOWLEDGED

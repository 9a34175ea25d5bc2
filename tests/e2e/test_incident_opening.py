"""Browser test: a lead on an alert's page opens an incident in one click and lands on its
page, with the alert, the model, the monitor's playbook pinned and the timeline; the alert's
page then links that incident instead of offering a second. Screenshots of each page."""

import pytest

from playbooks import demo
from playbooks.models import Incident
from tests.factories import MLModelFactory
from tests.failsafe.alert_helpers import make_alert
from tests.playbooks import conftest as playbook_fixtures

catalog = playbook_fixtures.catalog
people = playbook_fixtures.people

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_lead_opens_an_incident_from_an_alert(
    live_server, page, sign_in, artifacts, catalog, people
):
    demo.seed_playbooks()
    model = MLModelFactory(slug="card-fraud")
    alert = make_alert(model, monitor="ood-rate", severity="S2")
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "lee")

    page.goto(f"{live_server.url}/failsafe/alerts/{alert.pk}/")
    button = page.locator(".alert-actions button:has-text('Open an incident')")
    assert button.count() == 1
    page.screenshot(path=str(artifacts / "incident-alert-before.png"), full_page=True)
    button.click()
    page.wait_for_load_state("networkidle")

    incident = Incident.objects.get()
    assert page.url.endswith(f"/incidents/{incident.pk}/")
    assert "card-fraud: ood rate out of bounds" in page.locator("h1").inner_text()
    assert "You are its commander" in page.content()
    assert incident.playbook_version is not None
    timeline = page.locator("#timeline")
    assert "Incident opened" in timeline.inner_text()
    assert f"Alert #{alert.pk}" in timeline.inner_text()
    page.screenshot(path=str(artifacts / "incident-from-alert.png"), full_page=True)

    page.click("#timeline a.tl-chip:has-text('Modes & alerts')")
    page.wait_for_load_state("networkidle")
    assert "Incident opened" not in page.locator("#timeline").inner_text()

    page.goto(f"{live_server.url}/failsafe/alerts/{alert.pk}/")
    assert page.locator(".alert-actions button:has-text('Open an incident')").count() == 0
    assert incident.reference in page.locator(".alert-actions").inner_text()
    page.screenshot(path=str(artifacts / "incident-alert-after.png"), full_page=True)
    assert js_errors == []


def test_lead_takes_command_of_an_incident_a_monitor_opened(
    live_server, page, sign_in, artifacts, people
):
    from reviewapp.failsafe.services.modes import mode_change

    model = MLModelFactory(slug="card-fraud")
    alert = make_alert(model, severity="S1")
    mode_change(model=model, mode="halted", reason="uncertain rate past 0.15", monitor=alert.monitor,
                alert=alert)  # fmt: skip
    incident = Incident.objects.get()
    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/notifications/")
    page.goto(f"{live_server.url}{incident.get_absolute_url()}")
    assert "Nobody commands this incident" in page.locator("#attention").inner_text()
    page.screenshot(path=str(artifacts / "incident-unattended.png"), full_page=True)
    page.click("#attention button:has-text('Take command')")
    page.wait_for_load_state("networkidle")
    assert "You command" in page.content()
    assert page.locator("#attention").count() == 0
    incident.refresh_from_db()
    assert incident.commander.username == "lee" and incident.status == "contained"

"""Browser test: the engineer starts the post-mortem of a remediated S2 incident (prefilled),
publishes it, adds an overdue action item (red, counted in the top bar), drafts the catalog
update in one click, opens the print page and prints it to PDF; the steward (edith, a catalog
editor) then publishes the proposed revision through the catalog's own page. Screenshots of
the post-mortem section and the print page."""

import datetime as dt

import pytest

from catalog.models import FailureMode, PendingRevision
from playbooks.incidents import actions, services
from playbooks.models import PostMortem
from reviewapp.core import clock
from tests.factories import MLModelFactory
from tests.playbooks import conftest as playbook_fixtures

catalog = playbook_fixtures.catalog
people = playbook_fixtures.people

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_postmortem_to_catalog_update(live_server, page, sign_in, artifacts, catalog, people):
    sam, edith = people["engineer"], people["catalog_editor"]
    fm = FailureMode.objects.get(slug="currency-mix-drift")
    FailureMode.objects.filter(pk=fm.pk).update(
        cause="A shift in the currency mix.", effect="Scores drift.",
        trigger_steps="New market launch.", business_impact="Missed fraud.",
        owner=edith, steward=edith,
    )  # fmt: skip
    model = MLModelFactory(slug="card-fraud")
    start = clock.now() - dt.timedelta(hours=5)
    incident = services.incident_open(
        actor=sam, title="Fraud scores drifting after the NL launch", severity="S2",
        model_slugs=[model.slug], failure_mode_slugs=[fm.slug], impact_started_at=start,
        detected_at=start + dt.timedelta(minutes=35),
    )  # fmt: skip
    for event in ("triage", "contain", "remediate"):
        incident.refresh_from_db()
        services.incident_transition(
            incident=incident, event=event, actor=sam, base_version=incident.version
        )
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "sam")
    url = f"{live_server.url}/incidents/{incident.pk}/"

    page.goto(url + "#postmortem")
    page.click("button:has-text('Start the post-mortem')")
    page.wait_for_load_state("networkidle")
    impact = page.locator("#id_impact").input_value()
    assert "passed without review" in impact
    assert "Time to detect: 35 min" in page.locator("#id_detection").input_value()
    page.fill("#id_summary", "The NL launch doubled the EUR share; fraud scores drifted down.")
    page.fill("#id_root_causes", "Training data had almost no EUR transactions.")
    page.fill("#id_trigger", "Launch of the Dutch market.")
    page.fill("#id_resolution", "Retrained on a month that includes the launch.")
    page.fill("#id_went_well", "The uncertainty monitor caught it in 35 minutes.")
    page.fill("#id_went_wrong", "Nobody owned the launch checklist for models.")
    page.click("summary:has-text('Publish…')")
    page.click("button:has-text('Save and publish')")
    page.wait_for_load_state("networkidle")
    assert "Post-mortem published." in page.locator(".messages").inner_text()
    assert PostMortem.objects.get().status == "published"

    page.select_option("#id_ai-kind", "detect")
    page.fill("#id_ai-title", "Alert on currency mix per market")
    page.fill("#id_ai-owner", "sam")
    page.fill("#id_ai-due_on", (actions.today() - dt.timedelta(days=3)).isoformat())
    page.click("button:has-text('Add action item')")
    page.wait_for_load_state("networkidle")
    row = page.locator("table.pm-actions tr.pm-overdue")
    assert row.count() == 1 and "overdue" in row.inner_text()
    assert "1" in page.locator("[data-counter='my-actions']").inner_text()

    page.click("button:has-text('Draft the catalog update')")
    page.wait_for_load_state("networkidle")
    assert "revision waiting for review" in page.locator("#postmortem").inner_text()
    page.locator("#postmortem").scroll_into_view_if_needed()
    page.locator("#postmortem").screenshot(path=str(artifacts / "postmortem-section.png"))
    page.screenshot(path=str(artifacts / "postmortem-page.png"), full_page=True)

    page.click("text=Print view (save as PDF)")
    page.wait_for_load_state("networkidle")
    assert page.locator("header.topbar").count() == 0
    assert "Training data had almost no EUR transactions." in page.inner_text("main")
    page.screenshot(path=str(artifacts / "postmortem-print.png"), full_page=True)
    page.emulate_media(media="print")
    assert page.locator(".print-hint").is_hidden()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") >= 3
    page.emulate_media(media="screen")
    text = page.inner_text("body")
    assert "Queue" not in text.split("Incident report")[0]  # no top bar above the report

    # The steward publishes the revision through the catalog's page; sam may not.
    page.goto(f"{live_server.url}/catalog/f/{fm.slug}/")
    assert page.locator("button:has-text('Publish revision')").count() == 0
    assert "another catalog editor must publish it" in page.inner_text("main")
    page.context.clear_cookies()
    sign_in(page, live_server, "edith")
    page.goto(f"{live_server.url}/catalog/f/{fm.slug}/")
    page.click("button:has-text('Publish revision')")
    page.wait_for_load_state("networkidle")
    assert "Revision published." in page.locator(".messages").inner_text()
    assert not PendingRevision.objects.filter(failure_mode=fm, status="pending").exists()
    fm.refresh_from_db()
    assert "Launch of the Dutch market." in fm.trigger_steps
    page.screenshot(path=str(artifacts / "postmortem-catalog-published.png"), full_page=True)
    assert not js_errors

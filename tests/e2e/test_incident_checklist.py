"""Browser test: an on-call engineer follows an incident's checklist for three steps (one of
them a decision point), sees the step that does not apply passed over and the branch not
taken marked off the path, copies a status update and records it as sent, and the header
says when the next update is due. Saves screenshots of the page."""

import pytest

from playbooks import services as playbook_services
from playbooks.incidents import services
from playbooks.models import IncidentStep
from tests.factories import MLModelFactory
from tests.playbooks import conftest as playbook_fixtures
from tests.playbooks.test_incident_checklist import runbook

catalog = playbook_fixtures.catalog
people = playbook_fixtures.people

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_engineer_follows_the_checklist_and_sends_an_update(
    live_server, page, sign_in, artifacts, catalog, people
):
    model = MLModelFactory(slug="card-fraud")
    p = playbook_services.playbook_create(actor=people["engineer"], document=runbook())
    playbook_services.playbook_transition(playbook=p, actor=people["lead"], event="publish")
    incident = services.incident_open(
        actor=people["engineer"], title="Fraud scores drifting", severity="S3",
        model_slugs=[model.slug], playbook_slug=p.slug, failure_mode_slugs=["currency-mix-drift"],
    )  # fmt: skip
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/incidents/{incident.pk}/#checklist")
    current = page.locator(".inc-check-current")
    assert "Do ack" in current.inner_text()
    assert "to do now" in current.inner_text()

    # 1. Acknowledge, with the dashboard's link as evidence.
    current.get_by_label("Dashboard").fill("https://grafana.example/d/fraud")
    current.get_by_label("Error rate").fill("0.31")
    current.get_by_role("button", name="Mark done").click()
    page.wait_for_load_state("networkidle")
    assert "Step recorded: ack (done)." in page.locator(".messages").inner_text()
    # Paging the lead needs S2 or worse: passed over as not applicable.
    assert "not applicable" in page.locator("#check-page-lead").inner_text()
    current = page.locator(".inc-check-current")
    assert "Do what" in current.inner_text()

    # 2. The decision point: a data problem.
    current.get_by_label("data").check()
    current.get_by_role("button", name="Mark done").click()
    page.wait_for_load_state("networkidle")
    assert "not on the path taken" in page.locator("#check-rollback").inner_text()
    assert "branch: data" in page.locator("#check-what").inner_text()

    # 3. Fix the data (it rejoins the main line at the check).
    page.locator(".inc-check-current").get_by_role("button", name="Mark done").click()
    page.wait_for_load_state("networkidle")
    assert "Do check" in page.locator(".inc-check-current").inner_text()
    assert list(IncidentStep.objects.order_by("seq").values_list("step_key", flat=True)) == [
        "ack", "what", "fix-data"
    ]  # fmt: skip
    page.locator("#checklist").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "incident-checklist.png"), full_page=True)

    # Communications: copy a draft, then record it as sent.
    drafts = page.locator("#communications")
    assert "[S3] card-fraud is normal." in drafts.locator("#draft-status_update").input_value()
    drafts.locator("[data-copy='draft-status_update']").click()
    status = drafts.locator("[data-copied='draft-status_update']")
    status.wait_for(state="visible")
    assert status.inner_text() in ("Copied.", "Selected: press Ctrl+C to copy.")
    drafts.locator("form").filter(has=page.locator("#draft-status_update")).get_by_role(
        "button", name="Record as sent"
    ).click()
    page.wait_for_load_state("networkidle")
    header = page.locator(".inc-head").inner_text()
    assert "Next update due" in header and "overdue" not in header
    page.screenshot(path=str(artifacts / "incident-communications.png"), full_page=True)
    page.locator(".inc-head").screenshot(path=str(artifacts / "incident-header.png"))
    assert not js_errors

"""Browser test of a whole incident, as issue 16 tells it: an alert opens an incident in one
click; the commander follows the playbook, contains the model through the fail-safe switch,
records a hypothesis and confirms it, queues the affected predictions for re-review, scores
the recovery paths and chooses the policy rollback (a change request, nothing applied), and
closes the incident with a published post-mortem; the failure mode's steward then publishes
the catalog update the post-mortem drafted. Screenshots of the incident page at its end and
of the metrics page."""

from __future__ import annotations

import pytest

from catalog.models import FailureMode, PendingRevision
from playbooks import demo
from playbooks.models import Incident, IncidentStep, RecoveryDecision
from reviewapp.core.selectors import audit_events
from reviewapp.governance.models import ChangeRequest, PolicyVersion
from reviewapp.models import ModelMode, PoolMembership, Purpose, ReviewItem
from reviewapp.services.claims import review_item_take
from reviewapp.services.decisions import review_item_decide
from tests.failsafe.alert_helpers import make_alert
from tests.playbooks import conftest as playbook_fixtures
from tests.playbooks import test_recovery as fx

catalog = playbook_fixtures.catalog
people = playbook_fixtures.people
model = fx.model

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait(page) -> None:
    page.wait_for_load_state("networkidle")


def lifecycle(page, label: str, reason: str = "") -> None:
    """Press a lifecycle action in the incident's header (a confirm box with an optional
    reason) and wait for the page to come back."""
    box = page.locator(".inc-actions details", has=page.locator(f"summary:has-text('{label}')"))
    box.locator("summary").click()
    if reason:
        box.locator("textarea[name=reason]").fill(reason)
    box.locator("button[type=submit]").click()
    wait(page)


def test_an_alert_to_a_published_catalog_update(
    live_server, page, sign_in, artifacts, catalog, people, model
):
    sam, ana, edith = people["engineer"], people["reviewer"], people["catalog_editor"]
    assert demo.seed_playbooks() == 5
    fm = FailureMode.objects.get(slug="currency-mix-drift")
    FailureMode.objects.filter(pk=fm.pk).update(
        cause="A shift in the currency mix.", effect="Scores drift.",
        trigger_steps="New market launch.", business_impact="Missed fraud.",
        owner=edith, steward=edith,
    )  # fmt: skip
    PoolMembership.objects.create(user=ana, model=model)
    fx.traffic(model, passed=40, routed=10, latency=120.0)
    fx.reviews(model, ana, overrides=6, accepts=54)
    alert = make_alert(model, monitor="ood-rate", severity="S2", minutes_ago=150)
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "sam")

    # 1. One click from the alert.
    page.goto(f"{live_server.url}/failsafe/alerts/{alert.pk}/")
    page.click(".alert-actions button:has-text('Open an incident')")
    wait(page)
    incident = Incident.objects.get()
    assert page.url.endswith(f"/incidents/{incident.pk}/")
    assert incident.commander == sam and incident.impact_started_at == alert.since
    assert incident.playbook_version.title.startswith("Data drift")
    assert list(incident.alert_links.values_list("alert_id", flat=True)) == [alert.pk]
    # Name the failure mode it looks like (the catalog update goes to its entry).
    page.select_option("#link-failure-mode", fm.slug)
    page.click("button:has-text('Link failure mode')")
    wait(page)
    assert fm.title in page.locator("#models").inner_text()

    # 2. The playbook: acknowledge (with the alert's page as evidence), set the severity.
    current = page.locator(".inc-check-current")
    assert "Acknowledge the alert" in current.inner_text()
    current.get_by_label("The alert's page").fill(f"{live_server.url}/failsafe/alerts/{alert.pk}/")
    current.get_by_role("button", name="Mark done").click()
    wait(page)
    page.locator(".inc-check-current").get_by_role("button", name="Mark done").click()
    wait(page)
    assert list(IncidentStep.objects.values_list("step_key", flat=True).order_by("seq")) == [
        "ack", "severity",
    ]  # fmt: skip
    lifecycle(page, "Mark triaged")

    # 3. Contain the model through the fail-safe switch (the commander may).
    page.locator("#models").get_by_role("link", name="Contain").click()
    page.wait_for_url("**/failsafe/models/card-fraud/contain/")
    page.fill("#id_reason", f"{incident.reference}: OOD inputs since the NL launch.")
    page.click("button:has-text('Contain')")
    page.wait_for_url("**/failsafe/models/card-fraud/")
    assert ModelMode.objects.get(model=model).mode == "contained"
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    lifecycle(page, "Mark contained")
    incident.refresh_from_db()
    assert incident.status == "contained" and incident.contained_at is not None

    # 4. Root cause: a hypothesis, then confirmed.
    rc = page.locator("#root-cause")
    rc.get_by_label("Hypothesis").fill("The NL launch moved the currency mix the model saw")
    rc.get_by_label("Test that checks it").fill("Compare the EUR share before and after launch")
    rc.get_by_label("Confidence (0–100)").fill("80")
    rc.get_by_role("button", name="Add hypothesis").click()
    wait(page)
    page.locator("#root-cause").get_by_role("button", name="Confirm").click()
    wait(page)
    assert "1 confirmed root cause" in page.locator("#root-cause").inner_text()

    # 5. What passed unreviewed while it drifted: a sample of 3 queued for re-review.
    affected = page.locator("#affected")
    assert "predictions passed automatically" in affected.inner_text()
    affected.locator("#recheck-size").fill("3")
    affected.get_by_role("button", name="Queue re-review").click()
    wait(page)
    rechecks = list(ReviewItem.objects.filter(purpose=Purpose.INCIDENT_RECHECK).order_by("pk"))
    assert len(rechecks) == 3

    # 6. Recovery: ranked by business impact; the policy rollback chosen (a change request).
    recovery = page.locator("#recovery")
    rows = recovery.locator("tr[data-path]")
    assert rows.count() >= 5
    rollback = recovery.locator("tr[data-path='policy_rollback']").first
    rollback.get_by_role("button", name="Simulate").click()
    wait(page)
    rollback = page.locator("#recovery tr[data-path='policy_rollback']").first
    assert "errors would escape review" in rollback.locator("[data-testid=simulation]").inner_text()
    rollback.locator("summary", has_text="Choose this path").click()
    rollback.locator("textarea[name=reason]").fill("v2 lowered the threshold; errors escape.")
    rollback.get_by_role("button", name="Choose: Roll back the routing policy to v1").click()
    wait(page)
    decision = RecoveryDecision.objects.get()
    cr = ChangeRequest.objects.get(pk=decision.outcome["change_request"])
    assert decision.authorised_by == sam and cr.proposer == sam
    assert PolicyVersion.objects.get(model_slug=model.slug, is_active=True).version == 2
    lifecycle(page, "Mark remediated")

    # 7. Verification waits for the re-review; the reviewer overturns one of the three.
    lifecycle(page, "Mark verified")
    assert "still open" in page.locator(".messages").inner_text()
    # fx.traffic marks some of its "passed" rows routed; only a passed one can be overturned,
    # and the sample is random: override one that passed.
    wrong = next(n for n, item in enumerate(rechecks) if not item.prediction.routed)
    for n, item in enumerate(rechecks):
        held = review_item_take(item_id=item.pk, user=ana)
        review_item_decide(
            item_id=held.pk, user=ana, generation=held.claim_generation,
            action="override" if n == wrong else "accept",
            label="fraud" if n == wrong else "", reason="Wrong currency" if n == wrong else "",
        )  # fmt: skip
    page.reload()
    progress = page.locator(".inc-aff-progress").inner_text().replace("\n", " ")
    assert "Overturned 1" in progress
    lifecycle(page, "Mark verified")
    incident.refresh_from_db()
    assert incident.status == "verified"

    # 8. The post-mortem, published; then the incident closes.
    pm = page.locator("#postmortem")
    pm.get_by_role("button", name="Start the post-mortem").click()
    wait(page)
    assert "The NL launch moved the currency mix" in page.locator("#id_root_causes").input_value()
    page.fill("#id_summary", "The NL launch doubled the EUR share; fraud scores drifted down.")
    page.fill("#id_trigger", "Launch of the Dutch market.")
    page.fill("#id_resolution", "Rolled the routing policy back to v1; retrained.")
    page.fill("#id_went_well", "The OOD monitor caught it.")
    page.click("summary:has-text('Publish…')")
    page.click("button:has-text('Save and publish')")
    wait(page)
    lifecycle(page, "Close")
    incident.refresh_from_db()
    assert incident.status == "closed"
    page.click("button:has-text('Draft the catalog update')")
    wait(page)
    assert "revision waiting for review" in page.locator("#postmortem").inner_text()
    timeline = page.locator("#timeline").inner_text()
    for words in ("Incident opened", "contained", "Hypothesis", "Recovery path chosen"):
        assert words.lower() in timeline.lower(), words
    page.screenshot(path=str(artifacts / "incident-flow-closed.png"), full_page=True)
    # Every step above is in the audit log with the incident as its subject (its timeline).
    verbs = set(
        audit_events(target_type="playbooks.incident", target_id=str(incident.pk)).values_list(
            "verb", flat=True
        )
    )
    done = {
        "playbooks.incident.opened", "playbooks.incident.linked",
        "playbooks.incident.step_recorded", "playbooks.incident.triaged",
        "playbooks.incident.contained", "playbooks.hypothesis.added",
        "playbooks.hypothesis.confirmed", "playbooks.incident.recheck_queued",
        "playbooks.incident.recovery_simulated", "playbooks.incident.recovery_chosen",
        "playbooks.incident.remediated", "playbooks.incident.verified",
        "playbooks.postmortem.started", "playbooks.postmortem.published",
        "playbooks.incident.closed", "playbooks.postmortem.catalog_drafted",
    }  # fmt: skip
    assert done <= verbs, done - verbs

    # 9. The steward publishes the catalog update through the catalog's page.
    page.context.clear_cookies()
    sign_in(page, live_server, "edith")
    page.goto(f"{live_server.url}/catalog/f/{fm.slug}/")
    page.click("button:has-text('Publish revision')")
    wait(page)
    assert not PendingRevision.objects.filter(failure_mode=fm, status="pending").exists()
    fm.refresh_from_db()
    assert "Launch of the Dutch market." in fm.trigger_steps
    assert fm.occurrences.filter(source_type="incident", source_id=str(incident.pk)).count() == 1

    page.goto(f"{live_server.url}/incidents/metrics/")
    assert "1 incident" in page.inner_text("main")
    page.screenshot(path=str(artifacts / "incident-flow-metrics.png"), full_page=True)
    assert not js_errors

"""Browser test: the commander of an incident reads what its model let through, takes the
impact start the monitors propose, queues a sample for re-review, writes a root-cause
hypothesis and confirms it. Saves screenshots of the sections."""

from __future__ import annotations

import datetime as dt

import pytest

from playbooks.incidents import services
from reviewapp.core import clock
from reviewapp.dashboards.selectors import bucket_floor
from reviewapp.models import Prediction, Purpose, ReviewItem
from tests.factories import MLModelFactory
from tests.failsafe.monitor_helpers import buckets, folded
from tests.playbooks import conftest as playbook_fixtures

people = playbook_fixtures.people

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_commander_queues_a_sample_and_confirms_a_root_cause(
    live_server, page, sign_in, artifacts, people
):
    model = MLModelFactory(slug="card-fraud", criticality="high")
    now = clock.now()
    detected = bucket_floor(now - dt.timedelta(hours=2), 5)
    for i in range(30):
        at = now - dt.timedelta(hours=4) + i * dt.timedelta(minutes=7)
        Prediction.objects.create(
            model=model, external_id=f"txn-{i:03d}", model_version="1", input={"a": 1},
            output={"label": "legit"}, label="legit", confidence=0.9, occurred_at=at,
            received_at=at, status="passed", routed=False, reason_codes=[], routed_at=at,
        )  # fmt: skip
    # The OOD rate left its bound an hour before detection.
    buckets(model, end=detected - dt.timedelta(hours=1), count=12, received=100, ood=2)
    buckets(model, end=detected + dt.timedelta(minutes=30), count=18, received=100, ood=60)
    folded(now)
    incident = services.incident_open(
        actor=people["engineer"], title="Fraud model passes odd transactions", severity="S2",
        model_slugs=[model.slug], detected_at=detected,
    )  # fmt: skip
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/incidents/{incident.pk}/#affected")
    section = page.locator("#affected")
    assert "predictions passed automatically" in section.inner_text()
    assert "Impact start from the monitors" in section.inner_text()

    section.screenshot(path=str(artifacts / "incident-affected-proposal.png"))
    section.get_by_role("button", name="Use as impact start").click()
    page.wait_for_load_state("networkidle")
    assert "Impact start set from the monitors' data." in page.content()
    incident.refresh_from_db()
    assert incident.impact_started_at == detected - dt.timedelta(hours=1)

    section = page.locator("#affected")
    section.locator("#recheck-size").fill("5")
    section.get_by_role("button", name="Queue re-review").click()
    page.wait_for_load_state("networkidle")
    assert "5 queued for re-review" in page.content()
    assert ReviewItem.objects.filter(purpose=Purpose.INCIDENT_RECHECK).count() == 5
    progress = page.locator(".inc-aff-progress").inner_text()
    assert "Queued\n5" in progress or "Queued 5" in progress.replace("\n", " ")
    page.locator("#affected").screenshot(path=str(artifacts / "incident-affected.png"))

    rc = page.locator("#root-cause")
    rc.get_by_label("Hypothesis").fill("A new market's currency mix moved the amount feature")
    rc.get_by_label("Test that checks it").fill("Compare the currency mix before and after 11-19")
    rc.get_by_label("Confidence (0–100)").fill("70")
    rc.get_by_role("button", name="Add hypothesis").click()
    page.wait_for_load_state("networkidle")
    assert "Hypothesis added." in page.content()
    page.locator("#root-cause").get_by_role("button", name="Confirm").click()
    page.wait_for_load_state("networkidle")
    rc = page.locator("#root-cause")
    assert "1 confirmed root cause" in rc.inner_text()
    assert "confirmed" in rc.locator(".inc-hyp .badge").first.inner_text()
    rc.screenshot(path=str(artifacts / "incident-root-cause.png"))
    page.screenshot(path=str(artifacts / "incident-impact-page.png"), full_page=True)
    assert not js_errors

"""The whole governance flow in a real browser, each step by the role that does it:

an engineer proposes a threshold change and submits it; two committee members approve it on
the request page (the model is of medium criticality: one approval, plus one because the
replay moves reviewed volume by more than 25 %); the next prediction is routed by the new
version, as the item page says; a lead rolls it back in an emergency; the committee home flags
the rollback and a committee member ratifies it. Screenshots in /tmp/shots/flow-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone

from reviewapp.governance.models import ChangeRequest, PolicyVersion
from reviewapp.models import ReviewItem
from tests.factories import UserFactory

from .test_governance_pages import approve_here, sign_out, two_days_of_traffic

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/shots")


def test_propose_approve_route_emergency_rollback_ratify(live_server, page, sign_in, eager):
    SHOTS.mkdir(exist_ok=True)
    model = two_days_of_traffic()
    type(model).objects.filter(pk=model.pk).update(criticality="medium")
    UserFactory(username="sam", roles=["engineer"])
    UserFactory(username="lee", roles=["lead"])
    for name in ("cora", "cole", "cleo"):
        UserFactory(username=name, roles=["committee"])

    # 1. The engineer proposes 0.80 instead of 0.70 and submits it.
    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/governance/requests/new/?model=card-fraud")
    page.fill("input[name='rule:min_confidence']", "0.8")
    page.fill("#id_rationale", "Review the 0.70–0.80 band: overrides cluster there.")
    page.click("button:has-text('Save and submit for review')")
    page.wait_for_load_state("networkidle")
    cr = ChangeRequest.objects.get()
    assert cr.status == "in_review" and cr.evidence_state == "ready", cr.evidence_errors
    sign_out(page, live_server)

    # 2. Two committee members approve on the request page; the second vote applies it.
    for n, name in enumerate(("cora", "cole"), start=1):
        sign_in(page, live_server, name)
        page.goto(f"{live_server.url}/governance/requests/{cr.pk}/")
        if n == 1:
            assert "0 of 2 approvals" in page.content()
            page.screenshot(path=str(SHOTS / "flow-request-in-review.png"), full_page=True)
        approve_here(page)
        sign_out(page, live_server)
    cr.refresh_from_db()
    assert cr.status == "applied" and cr.applied_version == 2

    # 3. The next prediction is routed by v2: the lead sees it on the item page.
    from tests.governance.test_evidence import route

    [pk] = route(model, [0.75], timezone.now(), "after")  # 0.70 ≤ 0.75 < 0.80: routed by v2 only
    item = ReviewItem.objects.get(prediction_id=pk)
    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/queue/items/{item.pk}/")
    assert "Routed by policy v2" in page.inner_text("main")

    # 4. The lead rolls back in an emergency from the model's policy history.
    page.goto(f"{live_server.url}/governance/models/card-fraud/history/")
    page.get_by_role("link", name="Emergency rollback to v1…").click()
    page.wait_for_load_state("networkidle")
    page.fill("#id_reason", "Queue doubled after v2; the reviewers cannot keep up")
    page.locator("input[name=confirm]").check()
    page.get_by_role("button", name="Roll back to v1 now").click()
    page.wait_for_load_state("networkidle")
    rollback = ChangeRequest.objects.get(is_emergency=True)
    assert page.url.endswith(f"/governance/requests/{rollback.pk}/")
    assert "Emergency rollback awaiting ratification" in page.content()
    active = PolicyVersion.objects.get(model_slug="card-fraud", is_active=True)
    assert (
        active.version == 3
        and active.rules_hash
        == PolicyVersion.objects.get(model_slug="card-fraud", version=1).rules_hash
    )
    sign_out(page, live_server)

    # 5. The committee home flags it; a committee member ratifies it on the request page.
    sign_in(page, live_server, "cleo")
    assert page.url.endswith("/governance/")
    assert "awaiting ratification" in page.content().lower()
    page.screenshot(path=str(SHOTS / "flow-home-ratification.png"), full_page=True)
    page.goto(f"{live_server.url}/governance/requests/{rollback.pk}/")
    page.screenshot(path=str(SHOTS / "flow-rollback-request.png"), full_page=True)
    page.click("button:has-text('Ratify the rollback')")
    page.wait_for_load_state("networkidle")
    rollback.refresh_from_db()
    assert rollback.ratified_at is not None and rollback.ratified_by.username == "cleo"
    assert "Emergency rollback, ratified" in page.content()
    page.goto(f"{live_server.url}/governance/models/card-fraud/")
    assert page.get_by_test_id("emergency-flag").count() == 0

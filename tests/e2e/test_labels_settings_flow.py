"""The review-quality settings in a real browser: an engineer proposes a model's first version
on the change-request form (each setting named and explained), two committee members approve,
and the model page lists the active version. Screenshots in the artifacts folder."""

from __future__ import annotations

import pytest

from reviewapp.governance.models import ChangeRequest, DocumentVersion
from reviewapp.quality.settings import quality_settings
from tests.factories import MLModelFactory, UserFactory, make_policy

from .test_governance_pages import approve_here, sign_out

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_propose_approve_and_see_review_quality_settings(
    live_server, page, sign_in, artifacts, eager
):
    model = MLModelFactory(
        slug="card-fraud", labels=["fraud", "legit"], criticality="critical"
    )  # two approvals
    make_policy(model)
    UserFactory(username="sam", roles=["engineer"])
    for name in ("cora", "cole", "cleo"):
        UserFactory(username=name, roles=["committee"])

    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/governance/requests/new/?model=card-fraud&kind=review_quality")
    main = page.inner_text("main")
    assert "Review-quality settings" in main and "Blind second-review rate" in main
    page.fill("input[name='rule:gold_rate']", "0.02")
    page.fill("input[name='rule:second_review_rate']", "0.05")
    page.fill("input[name='rule:risky_labels']", '["fraud"]')
    page.fill("#id_rationale", "Start measuring how often reviewers are right.")
    page.screenshot(path=str(artifacts / "labels-settings-propose.png"), full_page=True)
    page.click("button:has-text('Save and submit for review')")
    page.wait_for_load_state("networkidle")
    cr = ChangeRequest.objects.get(kind="review_quality")
    assert cr.status == "in_review", (cr.status, cr.evidence_errors)
    assert "Blind second-review rate" in page.inner_text("main")  # the diff, in words
    page.screenshot(path=str(artifacts / "labels-settings-request.png"), full_page=True)
    sign_out(page, live_server)

    for name in ("cora", "cole"):
        sign_in(page, live_server, name)
        page.goto(f"{live_server.url}/governance/requests/{cr.pk}/")
        approve_here(page)
        sign_out(page, live_server)
    cr.refresh_from_db()
    assert cr.status == "applied"
    assert DocumentVersion.objects.get(kind="review_quality", is_active=True).version == 1
    assert quality_settings("card-fraud")["second_review_rate"] == 0.05

    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/governance/models/card-fraud/")
    section = page.inner_text("#review-quality")
    assert "Gold rate" in section and "Risky labels" in section and "fraud" in section
    page.screenshot(path=str(artifacts / "labels-settings-model.png"), full_page=True)

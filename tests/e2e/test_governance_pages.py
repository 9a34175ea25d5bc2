"""An engineer proposes a threshold change in the form and submits it; the evidence is computed
on real traffic; two committee members approve it on the request page; it is applied and the
next prediction is routed by the new version. Screenshots of the committee home and the
request page (evidence ready) are kept in /tmp/shots/gov-*.png."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from reviewapp.governance.models import ChangeRequest, PolicyVersion
from reviewapp.models import Prediction
from tests.factories import DEFAULT_RULES, MLModelFactory, UserFactory, make_policy
from tests.governance.cr_helpers import approve, submitted
from tests.governance.test_evidence import decide_item, route, rules
from tests.governance.test_shadow import SHADOW_RULES, store_and_route

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/shots")


def two_days_of_traffic():
    model = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"], criticality="high")
    make_policy(model, rules(0.70, qa=0.3, max_rate=0.1))
    now = timezone.now()
    for days_ago, prefix in ((2, "a"), (1, "b")):
        at = now - dt.timedelta(days=days_ago)
        confidences = [0.5, 0.62, 0.68, 0.72, 0.74, 0.76, 0.79, 0.83, 0.88, 0.91, 0.95, 0.97]
        ids = route(model, confidences, at, prefix)
        decide_item(ids[0], "override", claimed=at, seconds=180)
        decide_item(ids[1], "accept", claimed=at, seconds=240)
    return model


def test_propose_approve_apply(live_server, page, sign_in, eager):
    SHOTS.mkdir(exist_ok=True)
    model = two_days_of_traffic()
    UserFactory(username="sam", roles=["engineer"])
    for name in ("cora", "cole", "cleo"):
        UserFactory(username=name, roles=["committee"])

    # The engineer proposes in the form: the threshold beside its active value.
    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/governance/")
    page.click("text=Propose a change")
    page.select_option("#id_model", "card-fraud")
    page.click("button:has-text('Continue')")
    page.wait_for_load_state("networkidle")
    page.fill("input[name='rule:min_confidence']", "0.8")
    page.fill("#id_rationale", "Review the 0.70–0.80 band: overrides cluster there.")
    page.screenshot(path=str(SHOTS / "gov-propose.png"), full_page=True)
    page.click("button:has-text('Save and submit for review')")
    page.wait_for_load_state("networkidle")
    cr = ChangeRequest.objects.get()
    assert cr.status == "in_review" and cr.document["min_confidence"] == 0.8
    assert cr.evidence_state == "ready", cr.evidence_errors
    sign_out(page, live_server)

    # The committee home: what waits for my vote.
    sign_in(page, live_server, "cora")
    assert page.url.endswith("/governance/")
    assert "Waiting for your vote" in page.content()
    page.screenshot(path=str(SHOTS / "gov-home.png"), full_page=True)
    page.click(f"a[href='/governance/requests/{cr.pk}/'] >> nth=0")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / "gov-request.png"), full_page=True)
    assert "Impact per day" in page.content()
    # Raising the threshold moves reviewed volume by more than 25 %: one more approval.
    assert "0 of 3 approvals" in page.content()
    assert "Reviewed volume moves by" in page.content()
    approve_here(page)
    assert "1 of 3 approvals" in page.content()
    sign_out(page, live_server)

    for name in ("cole", "cleo"):
        sign_in(page, live_server, name)
        page.goto(f"{live_server.url}/governance/requests/{cr.pk}/")
        approve_here(page)
        sign_out(page, live_server)
    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/governance/requests/{cr.pk}/")
    assert "applied as v2" in page.content()
    page.screenshot(path=str(SHOTS / "gov-request-applied.png"), full_page=True)

    active = PolicyVersion.objects.get(model_slug=model.slug, is_active=True)
    assert active.version == 2 and active.change_request_id == cr.pk
    [pk] = route(model, [0.75], timezone.now(), "after")
    prediction = Prediction.objects.select_related("policy_version").get(pk=pk)
    assert prediction.policy_version.version == 2 and prediction.routed  # 0.75 < 0.80


def approve_here(page) -> None:
    """Approve on the request page, acknowledging the calibration warning when it shows."""
    ack = page.locator("input[name='acknowledge_risk']")
    if ack.count():
        ack.check()
    page.click("form.approve-form button:has-text('Approve')")
    page.wait_for_load_state("networkidle")


def sign_out(page, live_server) -> None:
    page.goto(f"{live_server.url}/governance/")
    page.click(".usermenu summary")
    page.click("button:has-text('Sign out')")
    page.wait_for_load_state("networkidle")


def test_shadow_period_triggers_and_a_first_version(live_server, page, sign_in):
    """The request page of a request in its shadow period (with its agreed rollback trigger),
    the committee home's time left, and the propose form of a model with no policy yet."""
    SHOTS.mkdir(exist_ok=True)
    model = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"], criticality="high")
    make_policy(model, DEFAULT_RULES)
    MLModelFactory(slug="churn", labels=["stay", "leave"], criticality="medium")
    sam = UserFactory(username="sam", roles=["engineer"])
    cora, cole = (UserFactory(username=n, roles=["committee"]) for n in ("cora", "cole"))
    cr, digest = submitted(
        model, sam, SHADOW_RULES, shadow_minutes=24 * 60,
        rollback_triggers=[{"metric": "override_rate", "op": ">", "bound": 0.15,
                            "duration_minutes": 30}],
    )  # fmt: skip
    approve(cr, cora, digest)
    approve(cr, cole, digest)
    store_and_route(
        model, *((f"t{i}", conf, "fraud") for i, conf in enumerate([0.5, 0.65, 0.7, 0.75, 0.9]))
    )

    sign_in(page, live_server, "cora")
    assert "left" in page.locator("#watch-h + table").inner_text()
    page.screenshot(path=str(SHOTS / "gov-home-shadow.png"), full_page=True)
    page.goto(f"{live_server.url}/governance/requests/{cr.pk}/")
    content = page.content()
    assert "Shadow period" in content and "Predictions seen" in content
    assert "stays above 0.15 for 30 min" in content and "not watched yet" in content
    page.screenshot(path=str(SHOTS / "gov-request-shadow.png"), full_page=True)
    sign_out(page, live_server)

    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/governance/requests/new/")
    page.select_option("#id_model", "churn")
    page.click("button:has-text('Continue')")
    page.wait_for_load_state("networkidle")
    assert "the model's first version" in page.content()
    assert page.locator("select[name='rule:route_on_drift']").count() == 1
    page.screenshot(path=str(SHOTS / "gov-propose-first.png"), full_page=True)

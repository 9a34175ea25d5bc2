"""Browser test (issue 17, people): a lead pauses a reviewer from the pool page with a reason;
the reviewer's queue says why instead of "nothing to do"; the lead resumes them. Screenshots of
the pool page, the alerts page and the paused reviewer's queue."""

import pytest

from reviewapp.models import PoolMembership
from reviewapp.quality.models import QualityAlert
from reviewapp.quality.services.alerts import alert_raise
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_lead_pauses_a_reviewer_from_the_pool_page(
    live_server, page, sign_in, artifacts, fraud_model
):
    ana = UserFactory(username="ana", roles=["reviewer"])
    ravi = UserFactory(username="ravi", roles=["reviewer"])
    UserFactory(username="lee", roles=["lead"])
    for user in (ana, ravi):
        PoolMembership.objects.create(model=fraud_model, user=user)
    PoolMembership.objects.filter(user=ravi).update(qualifying=True)
    fx.make_items(fraud_model, 2)
    alert_raise(
        kind=QualityAlert.Kind.FAST_ACCEPT,
        reviewer=ana,
        model=fraud_model,
        figures={"accepts": 40, "median_seconds": 2, "peer_median_seconds": 19,
                 "peer_accepts": 60, "accept_share": 1.0, "peer_accept_share": 0.8,
                 "ratio": 0.35},
    )  # fmt: skip

    sign_in(page, live_server, "lee", "pw-for-tests")
    page.goto(f"{live_server.url}/quality/alerts/")
    assert page.is_visible(
        "text=ana accepted 40 items on card-fraud in a median 2 s; peers take 19 s"
    )
    page.screenshot(path=str(artifacts / "quality-alerts.png"), full_page=True)

    page.goto(f"{live_server.url}/quality/pools/card-fraud/")
    assert page.inner_text("[data-testid=member-ravi]").count("qualifying") >= 1
    page.fill("[data-testid=reason-ana]", "Accepting in 2 s; look at gold first")
    page.click("[data-testid=pause-ana]")
    page.wait_for_load_state("networkidle")
    assert "ana is paused in card-fraud" in page.inner_text(".messages")
    row = page.inner_text("[data-testid=member-ana]")
    assert "paused" in row and "Accepting in 2 s; look at gold first" in row and "lee" in row
    page.screenshot(path=str(artifacts / "quality-pool-paused.png"), full_page=True)

    page.context.clear_cookies()
    sign_in(page, live_server, "ana", "pw-for-tests")
    page.goto(f"{live_server.url}/queue/")
    notice = page.inner_text("[data-testid=reviewer-notices]")
    assert (
        "A lead paused your reviewing for card-fraud: Accepting in 2 s; look at gold first. Ask lee."
        in notice
    )
    page.click("text=Start reviewing")
    page.wait_for_url(f"{live_server.url}/queue/")
    assert page.is_visible("[data-testid=reviewer-notices]")
    assert not page.is_visible("text=No items waiting for you")
    page.screenshot(path=str(artifacts / "quality-queue-paused.png"), full_page=True)

    page.context.clear_cookies()
    sign_in(page, live_server, "lee", "pw-for-tests")
    page.goto(f"{live_server.url}/quality/pools/card-fraud/")
    page.click("text=Resume ana")
    page.wait_for_load_state("networkidle")
    assert "live" in page.inner_text("[data-testid=member-ana]")
    assert PoolMembership.objects.get(user=ana).paused_at is None


def test_reviewer_reads_a_changed_guideline_before_getting_items(
    live_server, page, sign_in, artifacts, fraud_model
):
    from reviewapp.services.pools import guideline_publish

    ana = UserFactory(username="ana", roles=["reviewer"])
    lead = UserFactory(username="lee", roles=["lead"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    fx.make_items(fraud_model, 1)
    guideline_publish(model=fraud_model, body="## Card fraud\n- Accept when amount fits.", by=lead)
    guideline_publish(
        model=fraud_model,
        body="## Card fraud\n- **Override** when the device is new *and* the country differs.",
        note="New device rule",
        by=lead,
    )

    sign_in(page, live_server, "ana", "pw-for-tests")
    page.goto(f"{live_server.url}/queue/")
    assert "The card-fraud guideline changed (v2)." in page.inner_text(
        "[data-testid=reviewer-notices]"
    )
    page.click("text=Read it to get its items")
    page.wait_for_url(f"{live_server.url}/quality/guidelines/card-fraud/")
    assert page.is_visible("text=the country differs")
    page.screenshot(path=str(artifacts / "quality-guideline.png"), full_page=True)
    page.click("[data-testid=ack]")
    page.wait_for_url(f"{live_server.url}/queue/")
    assert "v2 read" in page.inner_text(".messages")
    assert not page.is_visible("[data-testid=reviewer-notices]")
    page.click("text=Start reviewing")
    page.wait_for_url("**/queue/items/*/review/")
    assert PoolMembership.objects.get(user=ana).guideline_acked == 2

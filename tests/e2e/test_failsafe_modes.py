"""Browser test: a lead contains a model from its dashboard after reading the preview, a
reviewer sees the banner on the review page of one of its items, the lead lifts it with a
note. Saves screenshots of each step."""

import pytest

from reviewapp.models import ModelMode, PoolMembership
from reviewapp.services.claims import review_item_claim_next
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REASON = "Override rate tripled since the 14:00 deploy"


def test_lead_contains_from_the_dashboard_reviewer_sees_banner_lead_lifts(
    live_server, browser, page, sign_in, artifacts, fraud_model
):
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    UserFactory(username="lee", roles=["lead"])
    items = fx.make_items(fraud_model, 4, confidence=0.55)
    fx.decide(review_item_claim_next(user=ana), ana, "accept")
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))

    # The lead opens the model's dashboard and clicks Contain…
    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/dashboards/models/card-fraud/")
    page.screenshot(path=str(artifacts / "failsafe-dashboard-contain-link.png"))
    page.click("text=Contain…")
    page.wait_for_url("**/failsafe/models/card-fraud/contain/")
    preview = page.locator("[data-testid=preview]")
    assert preview.is_visible()
    text = preview.inner_text()
    assert "Review volume" in text and "Reviewers active in the last hour" in text
    assert "ana" in text  # decided one in the last hour
    assert page.input_value("#id_review_by")  # defaults to now + 4 h
    page.screenshot(path=str(artifacts / "failsafe-contain-preview.png"), full_page=True)

    # Confirming without a reason says what is missing, beside the field.
    page.click("button:has-text('Contain Card Fraud')")
    assert page.is_visible("#id_reason-error")
    page.fill("#id_reason", REASON)
    page.click("button:has-text('Contain Card Fraud')")
    page.wait_for_url("**/failsafe/models/card-fraud/")
    assert "is contained" in page.inner_text(".messages")
    assert REASON in page.inner_text(".mode-summary")
    page.screenshot(path=str(artifacts / "failsafe-model-contained.png"), full_page=True)
    assert ModelMode.objects.get(model=fraud_model).mode == "contained"

    # The reviewer opens the review page of an item of that model and sees the banner.
    reviewer_page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        sign_in(reviewer_page, live_server, "ana")
        held = review_item_claim_next(user=ana)
        assert held.model_id == fraud_model.pk and held.pk in {i.pk for i in items}
        reviewer_page.goto(f"{live_server.url}/queue/items/{held.pk}/review/")
        banner = reviewer_page.locator("[data-testid=model-banner]")
        assert banner.is_visible()
        assert "CONTAINED" in banner.inner_text() and REASON in banner.inner_text()
        # The decision surface still fits the first screen at 1366x768.
        box = reviewer_page.locator("#decide-form").bounding_box()
        assert box["y"] + box["height"] <= 768, box
        reviewer_page.screenshot(path=str(artifacts / "failsafe-review-banner.png"))
        reviewer_page.goto(f"{live_server.url}/queue/")
        assert reviewer_page.locator("[data-testid=model-banner]").is_visible()
        reviewer_page.screenshot(path=str(artifacts / "failsafe-queue-banner.png"))
    finally:
        reviewer_page.close()

    # The lead lifts it with a note.
    page.click("text=Lift…")
    page.wait_for_url("**/failsafe/models/card-fraud/lift/")
    page.screenshot(path=str(artifacts / "failsafe-lift.png"), full_page=True)
    page.fill("#id_note", "Deploy rolled back; override rate back to 4 %")
    page.click("button:has-text('Lift: back to normal')")
    page.wait_for_url("**/failsafe/models/card-fraud/")
    assert "back to normal" in page.inner_text(".messages")
    history = page.inner_text(".history-table")
    assert "Deploy rolled back" in history and REASON in history
    page.screenshot(path=str(artifacts / "failsafe-model-history.png"), full_page=True)
    assert ModelMode.objects.get(model=fraud_model).mode == "normal"

    page.goto(f"{live_server.url}/failsafe/")
    page.screenshot(path=str(artifacts / "failsafe-overview.png"), full_page=True)
    assert not js_errors, js_errors

"""Browser test of blind double review and adjudication: ana overrides a risky item (any
override on a critical model), ravi answers the blind second review differently, the lead opens
the adjudication page, sees both side by side and settles it. Screenshots kept."""

import pytest

from reviewapp.delivery.selectors import producer_decisions
from reviewapp.models import Decision, PoolMembership, Purpose
from reviewapp.quality.models import SecondReview
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _reviewer(name, model):
    user = UserFactory(username=name, roles=["reviewer"])
    PoolMembership.objects.create(model=model, user=user)
    return user


def test_disagreement_is_adjudicated_side_by_side(
    live_server, page, sign_in, artifacts, fraud_model
):
    _reviewer("ana", fraud_model)
    _reviewer("ravi", fraud_model)
    lead = UserFactory(username="lee", roles=["lead"])
    (routed,) = fx.make_items(fraud_model, 1, confidence=0.55)
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))

    # ana overrides the model on a critical model: risky, so it is held for a second review.
    sign_in(page, live_server, "ana")
    page.click("text=Start reviewing")
    page.wait_for_url(f"**/queue/items/{routed.pk}/review/")
    page.keyboard.press("o")
    page.keyboard.press("2")  # legit
    page.keyboard.type("Known customer: device and CVV match")
    page.keyboard.press("Enter")
    page.wait_for_url("**done=*")
    review = SecondReview.objects.get()
    assert Decision.objects.get(item=routed).held
    page.context.clear_cookies()

    # ravi gets the second review, blind: nothing on the page says there was a first answer.
    sign_in(page, live_server, "ravi")
    page.click("text=Start reviewing")
    page.wait_for_url(f"**/queue/items/{review.second_item_id}/review/")
    main = page.inner_text("main")
    assert "Known customer" not in main and "second review" not in main.lower()
    page.click("button[data-action=accept]")
    page.wait_for_url("**done=*")
    review.refresh_from_db()
    assert review.status == SecondReview.Status.ADJUDICATING
    page.context.clear_cookies()

    # The lead sees the disagreement in the top bar and adjudicates.
    sign_in(page, live_server, "lee")
    page.click("a[data-counter=adjudication]")
    page.wait_for_url("**/quality/adjudication/")
    page.screenshot(path=str(artifacts / "adjudication-list.png"), full_page=True)
    page.click("text=Adjudicate >> nth=-1")
    page.wait_for_url(f"**/quality/adjudication/{review.pk}/")
    sides = page.locator(".adj-side")
    assert sides.count() == 2
    first, second = sides.nth(0).inner_text().lower(), sides.nth(1).inner_text().lower()
    assert "legit" in first and "ana" in first and "known customer" in first
    assert "fraud" in second and "ravi" in second
    # Side by side at 1366 wide.
    left, right = sides.nth(0).bounding_box(), sides.nth(1).bounding_box()
    assert abs(left["y"] - right["y"]) < 2 and right["x"] > left["x"] + left["width"]
    page.screenshot(path=str(artifacts / "adjudication.png"), full_page=True)

    page.click("button:has-text('Make final and deliver')")  # nothing picked: told so
    assert page.is_visible("text=Pick the final label.")
    page.check("input[name=label][value=fraud]")
    page.fill("#adj-reason", "Card testing pattern: small amounts, new device")
    page.check("input[name=make_gold]")
    page.screenshot(path=str(artifacts / "adjudication-filled.png"), full_page=True)
    page.click("button:has-text('Make final and deliver')")
    page.wait_for_url("**/quality/adjudication/")
    assert "Adjudicated: fraud" in page.inner_text(".messages")
    review.refresh_from_db()
    assert review.status == SecondReview.Status.ADJUDICATED and review.final_label == "fraud"
    final = Decision.objects.get(pk=review.final_decision_id)
    assert final.reviewer_id == lead.pk and final.item.purpose == Purpose.ROUTED
    import datetime as dt

    from reviewapp.core import clock

    delivered = producer_decisions(now=clock.now() + dt.timedelta(seconds=5)).filter(
        prediction_id=routed.prediction_id
    )
    assert [d.final_label for d in delivered] == ["fraud"]
    assert not js_errors, js_errors

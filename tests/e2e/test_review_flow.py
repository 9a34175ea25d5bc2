"""Browser test: log in, start reviewing, override with the keyboard, see the next item and
the decision in the item's history. Saves screenshots of the queue and review pages."""

import pytest

from reviewapp.models import Decision, PoolMembership
from reviewapp.services.pools import guideline_publish
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_reviewer_overrides_with_keyboard_and_sees_history(
    live_server, page, sign_in, artifacts, fraud_model
):
    ana = UserFactory(username="ana", roles=["reviewer"])
    ana.set_password("pw-for-tests")
    ana.save()
    PoolMembership.objects.create(model=fraud_model, user=ana)
    lead = UserFactory(username="lee", roles=["lead"])
    guideline_publish(
        model=fraud_model,
        body="## Card fraud\n- **Accept** when amount and country fit the customer.\n- **Override** when the device and CVV match a known customer.",
        by=lead,
    )
    # --- quality (people): ana has read the new guideline (or Start reviewing offers nothing)
    PoolMembership.objects.filter(user=ana).update(guideline_pending=False)
    # --- end quality (people)
    items = fx.make_items(fraud_model, 3, confidence=0.55)
    for n, item in enumerate(items):
        type(item).objects.filter(pk=item.pk).update(priority=90 - n)
    first = items[0]

    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "ana", "pw-for-tests")
    page.wait_for_url(f"{live_server.url}/queue/")
    page.screenshot(path=str(artifacts / "queue.png"), full_page=False)

    page.click("text=Start reviewing")
    page.wait_for_url(f"**/queue/items/{first.pk}/review/")
    assert page.is_visible("text=Model says")
    assert page.inner_text(".review-head [data-sla]").startswith("SLA ")
    # The whole decision surface fits the first screen at 1366x768.
    box = page.locator("#decide-form").bounding_box()
    assert box["y"] + box["height"] <= 768, box
    page.screenshot(path=str(artifacts / "review.png"), full_page=False)
    page.keyboard.press("g")
    page.screenshot(path=str(artifacts / "review-guideline.png"), full_page=False)
    page.keyboard.press("g")

    page.keyboard.press("o")
    page.keyboard.press("2")  # second label: legit
    assert page.input_value("#id_label") == "legit"
    page.keyboard.type("Device and CVV match a known customer")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/queue/items/{items[1].pk}/review/?done=*")
    assert page.is_visible(".toast")
    assert "Overrode item" in page.inner_text(".toast")
    page.screenshot(path=str(artifacts / "review-next-toast.png"), full_page=False)

    decision = Decision.objects.get(item=first)
    assert decision.action == "override" and decision.final_label == "legit"
    assert decision.guideline_version is not None

    page.goto(f"{live_server.url}/queue/items/{first.pk}/")
    text = page.inner_text("main")
    assert "Device and CVV match a known customer" in text
    assert "Decided" in text and "Claimed" in text
    page.screenshot(path=str(artifacts / "item-history.png"), full_page=True)
    assert not js_errors, js_errors

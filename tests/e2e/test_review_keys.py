"""Browser tests of the review page's keyboard: Enter submits only the action the reviewer
chose, and says so before it does; with no action chosen it only asks for one."""

import pytest

from reviewapp.models import Decision, PoolMembership, ReviewItem
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_enter_without_a_chosen_action_records_nothing(
    live_server, page, sign_in, artifacts, fraud_model
):
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    first, second = fx.make_items(fraud_model, 2, confidence=0.55)
    ReviewItem.objects.filter(pk=first.pk).update(priority=90)
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "ana")
    page.click("text=Start reviewing")
    page.wait_for_url(f"**/queue/items/{first.pk}/review/")
    review_url = page.url

    # The defect: a note typed with no action chosen, then Enter, escalated the item.
    page.click("#id_reason")
    page.keyboard.type("looks fine to me")
    page.keyboard.press("Enter")
    hint = page.locator("[data-mode-hint]")
    hint.filter(has_text="Choose an action (a, o, e, d).").wait_for()
    assert hint.get_attribute("role") == "status"  # read out by screen readers
    page.wait_for_timeout(500)  # a submission would have navigated by now
    assert page.url == review_url
    assert not Decision.objects.exists()
    assert ReviewItem.objects.get(pk=first.pk).status == ReviewItem.Status.CLAIMED
    assert page.input_value("#id_reason") == "looks fine to me"  # the note is kept
    page.screenshot(path=str(artifacts / "review-enter-no-action.png"))

    # Choosing override and a label shows what Enter will do before it does it.
    page.keyboard.press("Escape")
    page.keyboard.press("o")
    page.keyboard.press("2")  # the second label: legit
    assert page.locator(".btn.mode").get_attribute("data-action") == "override"
    assert hint.inner_text() == "Enter to override as legit."
    page.screenshot(path=str(artifacts / "review-enter-override-chosen.png"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/queue/items/{second.pk}/review/?done=*")
    decision = Decision.objects.get()
    assert (decision.action, decision.final_label) == ("override", "legit")
    assert decision.reason == "looks fine to me"

    # Escalate is chosen with e and said as such; Enter then escalates, nothing else.
    page.keyboard.press("e")
    assert hint.inner_text() == "Enter to escalate to a lead, with your note."
    page.keyboard.type("Same device as a known fraud ring")
    page.keyboard.press("Enter")
    page.wait_for_url("**/queue/?done=*")
    assert Decision.objects.get(item=second).action == "escalate"
    assert not js_errors, js_errors

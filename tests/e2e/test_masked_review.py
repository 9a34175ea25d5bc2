"""Browser test of suggestion masking: on a masked item the model's answer is not shown, the
`a` key asks for a label instead of accepting, a digit picks one and Enter submits it."""

import pytest

from reviewapp.models import Decision, PoolMembership, ReviewItem
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_masked_item_asks_for_a_label_and_records_it(
    live_server, page, sign_in, artifacts, fraud_model
):
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    masked, plain = fx.make_items(fraud_model, 2, confidence=0.55, label="fraud")
    ReviewItem.objects.filter(pk=masked.pk).update(priority=90, suggestion_masked=True)
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "ana")
    page.click("text=Start reviewing")
    page.wait_for_url(f"**/queue/items/{masked.pk}/review/")
    claim = page.locator("section.claim")
    assert "Model's answer hidden" in claim.inner_text()
    assert "0.55" not in page.locator("#review").inner_text()
    assert page.locator(".label-big").count() == 0
    assert page.locator("#similar-h").count() == 0
    page.screenshot(path=str(artifacts / "masked-review.png"), full_page=True)

    # `a` does not accept: it asks for a label, in the live region, and focuses the picker.
    page.keyboard.press("a")
    hint = page.locator("[data-mode-hint]")
    assert hint.inner_text() == "Pick the label you think is right"
    assert hint.get_attribute("role") == "status"
    assert page.evaluate("document.activeElement.id") == "id_label"
    page.wait_for_timeout(300)
    assert not Decision.objects.exists()
    page.screenshot(path=str(artifacts / "masked-review-asked.png"), full_page=True)

    # A digit picks the label; Enter submits it as the reviewer's label.
    page.keyboard.press("2")  # legit
    assert page.input_value("#id_label") == "legit"
    assert page.locator(".btn.mode").get_attribute("data-action") == "label"
    assert hint.inner_text() == "Enter to submit legit as your label."
    page.screenshot(path=str(artifacts / "masked-review-picked.png"), full_page=True)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/queue/items/{plain.pk}/review/?done=*")
    decision = Decision.objects.get()
    assert (decision.action, decision.final_label) == ("override", "legit")
    assert decision.suggestion_shown is False and decision.predicted_label == "fraud"
    # The next (unmasked) item shows the model's answer and accepts with `a` as always.
    assert page.locator(".label-big").inner_text().lower() == "fraud"
    page.keyboard.press("a")
    page.wait_for_url("**/queue/?done=*")
    assert Decision.objects.get(item=plain).suggestion_shown is True
    assert not js_errors, js_errors

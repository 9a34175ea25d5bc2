"""Browser test: a lead names a model's owners on its fail-safe page (an unknown name is
refused beside the field), and the halt page's preview follows the sample share as the lead
types it. Saves screenshots of each step."""

import pytest

from reviewapp.models import ModelMode
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_lead_names_owners_and_previews_a_halt(
    live_server, browser, page, sign_in, artifacts, fraud_model
):
    UserFactory(username="lee", roles=["lead"])
    UserFactory(username="sam", roles=["engineer"])
    UserFactory(username="edith", roles=["catalog_editor"])
    fx.make_items(fraud_model, 4, confidence=0.55)
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "lee")

    page.goto(f"{live_server.url}/failsafe/models/card-fraud/")
    page.fill("#id_owners", "sam, edith")
    page.click("button:has-text('Save owners')")
    page.wait_for_load_state("networkidle")
    error = page.locator("#id_owners-error")
    assert "edith" in error.inner_text()
    page.screenshot(path=str(artifacts / "failsafe-owners-error.png"), full_page=True)

    page.fill("#id_owners", "sam, lee")
    page.click("button:has-text('Save owners')")
    page.wait_for_load_state("networkidle")
    assert "lee, sam" in page.locator("[data-testid=owners]").inner_text()
    page.screenshot(path=str(artifacts / "failsafe-owners.png"), full_page=True)

    page.goto(f"{live_server.url}/failsafe/models/card-fraud/halt/")
    preview = page.locator("[data-testid=preview]")
    assert "10 % of them sampled" in preview.inner_text()
    page.fill("#id_sample_rate", "0.5")
    # htmx re-posts the form as a preview 400 ms after typing stops and swaps the figures in.
    page.locator("[data-testid=preview]", has_text="50 % of them").wait_for()
    page.screenshot(path=str(artifacts / "failsafe-halt-preview.png"), full_page=True)
    assert not ModelMode.objects.filter(model=fraud_model).exists()  # a preview switches nothing
    assert not js_errors

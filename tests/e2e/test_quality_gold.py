"""Browser test: a lead opens a decided item, marks it as gold with a corrected answer, sees
"Gold item #N" on the item's page and the item in the gold set. Screenshots of the mark page,
the item page after marking and the gold list."""

import pytest

from reviewapp.models import PoolMembership
from reviewapp.quality.models import GoldItem
from tests.factories import UserFactory
from tests.quality.gold_helpers import decided_items

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_lead_marks_an_item_gold_and_finds_it_in_the_gold_set(
    live_server, page, sign_in, artifacts, fraud_model
):
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    lee = UserFactory(username="lee", roles=["lead"])
    lee.set_password("pw-for-tests")
    lee.save()
    accepted, _other = decided_items(fraud_model, ana, 2)

    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "lee", "pw-for-tests")
    page.goto(f"{live_server.url}/queue/items/{accepted.pk}/")
    page.click("text=Mark as gold")
    page.wait_for_url(f"**/quality/gold/mark/{accepted.pk}/")
    assert page.input_value("#id_label") == "fraud"  # the decision's label by default
    page.select_option("#id_label", "legit")
    page.click("button:has-text('Mark as gold')")
    # A corrected answer needs a rationale: the error sits by the field, nothing is written.
    assert page.is_visible("text=say why it is the right one")
    assert not GoldItem.objects.exists()
    page.fill("#id_rationale", "Chargeback confirmed the owner made this purchase.")
    page.screenshot(path=str(artifacts / "gold-mark.png"), full_page=True)
    page.click("button:has-text('Mark as gold')")
    page.wait_for_url(f"**/queue/items/{accepted.pk}/")
    gold = GoldItem.objects.get()
    assert gold.label == "legit" and gold.adversarial
    assert page.is_visible(f"text=Gold item #{gold.pk}")
    page.screenshot(path=str(artifacts / "gold-item-page.png"), full_page=True)

    page.click(f"a:has-text('Gold item #{gold.pk}')")
    page.wait_for_selector(f"#gold-{gold.pk}")
    assert "/quality/gold/" in page.url
    row = page.inner_text(f"#gold-{gold.pk}")
    assert "legit" in row and "adversarial" in row and "lee" in row
    page.click("text=Show all")
    page.wait_for_load_state("networkidle")
    assert "id=" not in page.url
    page.screenshot(path=str(artifacts / "gold-list.png"), full_page=True)
    assert not js_errors, js_errors

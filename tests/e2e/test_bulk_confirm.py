"""Browser test: a lead's bulk release asks first, naming what it will touch, and is confirmed
with the keyboard; a mistyped filter shows its error in the filter panel and lists nothing.
Saves screenshots of the confirmation and of the filter error."""

import pytest

from reviewapp.models import PoolMembership, ReviewItem
from reviewapp.services.claims import review_item_assign
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
S = ReviewItem.Status


def test_lead_confirms_a_bulk_release_with_the_keyboard(
    live_server, page, sign_in, artifacts, fraud_model
):
    lead = UserFactory(username="lee", roles=["lead"])
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    items = fx.make_items(fraud_model, 3)
    for item in items[:2]:
        review_item_assign(item_id=item.pk, assignee=ana, by=lead)

    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/queue/?model=card-fraudd&status=claimed")
    assert page.is_visible("#filter-errors")
    assert "card-fraudd" in page.inner_text("#filter-errors")
    assert page.locator("#queue-results tbody tr").count() == 0
    page.screenshot(path=str(artifacts / "queue-filter-error.png"), full_page=False)

    page.goto(f"{live_server.url}/queue/?model=card-fraud&status=claimed")
    page.check("input[name=scope][value=filter]")
    page.click("button[name=action][value=release]")
    page.wait_for_load_state("networkidle")
    question = page.inner_text("#bulk-question")
    assert question == "Release 2 claimed items of card-fraud?"
    assert ReviewItem.objects.filter(status=S.CLAIMED).count() == 2  # nothing yet
    page.screenshot(path=str(artifacts / "bulk-confirm.png"), full_page=False)

    # The confirm button has the focus: Enter confirms.
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/queue/?model=card-fraud&status=claimed")
    assert "2 items released to the queue." in page.inner_text(".message.success")
    assert not ReviewItem.objects.filter(status=S.CLAIMED).exists()


def test_assign_to_offers_only_people_who_can_take_the_selection(
    live_server, page, sign_in, artifacts, fraud_model
):
    from tests.factories import MLModelFactory, make_policy

    radiology = MLModelFactory(slug="chest-xray", labels=["fraud", "legit"])
    make_policy(radiology)
    UserFactory(username="lee", roles=["lead"])
    ana = UserFactory(username="ana", roles=["reviewer"])
    ravi = UserFactory(username="ravi", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    PoolMembership.objects.create(model=radiology, user=ravi)
    (fraud_item,) = fx.make_items(fraud_model, 1)
    (scan,) = fx.make_items(radiology, 1, prefix="scan")

    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/queue/")
    options = "#bulk-form select[name=assignee] option:not([value=''])"

    def offered() -> list[str]:
        return [
            o.get_attribute("value")
            for o in page.locator(options).all()
            if o.get_attribute("disabled") is None
        ]

    assert offered() == ["ana", "lee", "ravi"]
    page.check(f"input[name=items][value='{fraud_item.pk}']")
    assert offered() == ["ana", "lee"]
    page.check(f"input[name=items][value='{scan.pk}']")
    assert offered() == ["lee"]
    assert "Nobody but the leads" in page.inner_text("#bulk-hint")
    page.screenshot(path=str(artifacts / "bulk-assign-mixed.png"), full_page=False)

    # One model again: its pool's reviewer is offered, and the assignment goes through.
    page.uncheck(f"input[name=items][value='{scan.pk}']")
    page.select_option("#bulk-form select[name=assignee]", "ana")
    page.click("button[name=action][value=assign]")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#bulk-question") == "Assign 1 pending item of card-fraud to ana?"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/queue/")
    assert page.inner_text(".message.success") == "1 item assigned to ana."
    page.screenshot(path=str(artifacts / "bulk-assign-done.png"), full_page=False)

"""A lead's bulk assign and release: the message's level and words match the outcome, and
"Assign to" offers, and the server accepts, only people who can take the selected items."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from reviewapp.models import PoolMembership, ReviewItem
from reviewapp.services.claims import review_item_claim_next, review_items_bulk
from tests.factories import UserFactory

from . import test_queue_fixtures as fx

make_items = fx.make_items
pooled_reviewer = fx.pooled_reviewer
radiology_model = fx.radiology_model
S = ReviewItem.Status
pytestmark = pytest.mark.django_db


def _bulk(client, **post):
    """Post both steps (ask, confirm) and return the message left for the queue page."""
    asked = client.post("/queue/bulk/", post)
    if asked.status_code != 200 or "confirm" not in asked.content.decode():
        return asked, None
    n = asked.content.decode().split('name="confirm" value="')[1].split('"')[0]
    response = client.post("/queue/bulk/", {**post, "confirm": n})
    assert response.status_code == 302
    (message,) = list(get_messages(response.wsgi_request))
    return response, message


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


def test_all_done_is_a_success_with_a_correct_plural(lead_client, pooled_reviewer, fraud_model):
    items = make_items(fraud_model, 2)
    _r, message = _bulk(lead_client, action="assign", assignee="ana", items=[i.pk for i in items])
    assert message.level_tag == "success"
    assert str(message) == "2 items assigned to ana."
    (one,) = make_items(fraud_model, 1)
    _r, message = _bulk(lead_client, action="assign", assignee="ana", items=[one.pk])
    assert str(message) == "1 item assigned to ana."


def test_nothing_done_is_an_error_with_the_reasons(lead_client, pooled_reviewer, fraud_model):
    items = make_items(fraud_model, 2)  # pending: nobody holds them, nothing to release
    _r, message = _bulk(lead_client, action="release", items=[i.pk for i in items])
    assert message.level_tag == "error"
    text = str(message)
    assert text.startswith("None of the 2 items was released. 2 skipped: ")
    assert f"#{items[0].pk}, #{items[1].pk}: " in text  # one reason, named once
    assert "0 item" not in text


def test_partly_done_is_a_warning_naming_the_skipped_and_why(
    lead_client, pooled_reviewer, fraud_model
):
    items = make_items(fraud_model, 3)
    held = review_item_claim_next(user=pooled_reviewer)
    _r, message = _bulk(lead_client, action="release", items=[i.pk for i in items])
    assert message.level_tag == "warning"
    text = str(message)
    assert text.startswith("1 of 3 items released to the queue. 2 skipped: #")
    skipped = [i.pk for i in items if i.pk != held.pk]
    assert f"#{skipped[0]}, #{skipped[1]}: " in text


def test_assigning_outside_the_pool_is_refused_and_changes_nothing(
    lead_client, pooled_reviewer, fraud_model, radiology_model
):
    ravi = UserFactory(username="ravi", roles=["reviewer"])
    PoolMembership.objects.create(model=radiology_model, user=ravi)
    items = make_items(fraud_model, 2)
    response, _m = _bulk(lead_client, action="assign", assignee="ravi", items=[i.pk for i in items])
    assert response.status_code == 422
    body = response.content.decode()
    assert "Nothing was changed" in body
    assert "ravi is not in the reviewer pool of card-fraud." in body
    assert "Who can take all the selected items: ana, lee." in body
    assert not ReviewItem.objects.filter(status=S.CLAIMED).exists()
    # The confirmation step is refused too (a stale or hand-made form).
    post = {"action": "assign", "assignee": "ravi", "items": [i.pk for i in items], "confirm": 2}
    assert lead_client.post("/queue/bulk/", post).status_code == 422
    assert not ReviewItem.objects.filter(status=S.CLAIMED).exists()


def test_a_mixed_selection_nobody_but_leads_can_take_says_why(
    lead_client, lead, pooled_reviewer, fraud_model, radiology_model
):
    items = make_items(fraud_model, 1) + make_items(radiology_model, 1)
    response, _m = _bulk(lead_client, action="assign", assignee="ana", items=[i.pk for i in items])
    assert response.status_code == 422
    body = response.content.decode()
    assert "ana is not in the reviewer pool of " in body
    assert "Who can take all the selected items: lee." in body
    # In both pools: the intersection offers her.
    PoolMembership.objects.create(model=radiology_model, user=pooled_reviewer)
    _r, message = _bulk(lead_client, action="assign", assignee="ana", items=[i.pk for i in items])
    assert str(message) == "2 items assigned to ana."


def test_the_service_refuses_an_assignee_outside_a_pool_before_any_change(
    lead, pooled_reviewer, fraud_model, radiology_model
):
    items = make_items(fraud_model, 1) + make_items(radiology_model, 1)
    from reviewapp.core.exceptions import ServiceError

    with pytest.raises(ServiceError) as caught:
        review_items_bulk(
            item_ids=[i.pk for i in items], action="assign", by=lead, assignee=pooled_reviewer
        )
    assert caught.value.status == 422 and "assignee" in caught.value.errors
    assert not ReviewItem.objects.filter(status=S.CLAIMED).exists()


def test_assign_to_offers_only_the_pool_of_the_filtered_model(
    lead_client, pooled_reviewer, fraud_model, radiology_model
):
    ravi = UserFactory(username="ravi", roles=["reviewer"])
    PoolMembership.objects.create(model=radiology_model, user=ravi)
    make_items(fraud_model, 1)
    html = lead_client.get("/queue/", {"model": "card-fraud"}).content.decode()
    assert 'value="ana"' in html and 'value="lee"' in html
    assert 'value="ravi"' not in html
    # Unfiltered: everyone, each with their pools, for the page to narrow by selection.
    html = lead_client.get("/queue/").content.decode()
    assert f'value="ravi" data-pools="{radiology_model.pk}"' in html
    assert 'value="lee" data-pools="*"' in html

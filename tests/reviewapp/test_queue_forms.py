"""The queue's HTML forms: what a post is cleaned to, and the messages a bad post gets."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from reviewapp.forms import BulkForm, DecideForm, ReleaseForm
from reviewapp.models import Decision, PoolMembership, ReviewItem
from reviewapp.services.claims import review_item_claim_next

from . import test_queue_fixtures as fx

make_items = fx.make_items
pooled_reviewer = fx.pooled_reviewer
pytestmark = pytest.mark.django_db


def flashed(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- the forms ----------------------------------------------------------------------------
def test_decide_form_cleans_to_the_service_arguments():
    form = DecideForm(
        {
            "action": "override",
            "label": "legit",
            "reason": "amount is normal",
            "generation": "3",
            "failure_mode_tags": ["currency-drift", ""],
            "guideline_version": "x",
            "wake_at": "2026-12-01T10:00",  # not a deferral: ignored
        }
    )
    assert form.is_valid(), form.errors
    assert form.decide_kwargs() == {
        "action": "override",
        "generation": 3,
        "label": "legit",
        "reason": "amount is normal",
        "note": "",
        "wake_at": None,
        "failure_mode_tags": ["currency-drift"],
        "guideline_version_id": None,
    }


def test_a_deferral_wakes_in_the_reviewers_zone_and_a_missing_generation_is_stale():
    with timezone.override("Europe/Amsterdam"):
        form = DecideForm({"action": "defer", "reason": "later", "wake_at": "2026-12-01T10:00"})
        assert form.is_valid(), form.errors
    kwargs = form.decide_kwargs()
    assert kwargs["wake_at"] == dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    assert kwargs["note"] == "later" and kwargs["reason"] == ""
    assert kwargs["generation"] == -1
    bad = DecideForm({"action": "defer", "wake_at": "next tuesday"})
    assert not bad.is_valid()
    assert bad.errors["wake_at"] == ["Not a date and time."]


def test_release_without_a_generation_releases_any_claim_and_bulk_ids_are_numbers():
    form = ReleaseForm({"generation": "abc"})
    assert form.is_valid() and form.cleaned_data["generation"] is None
    bulk = BulkForm({"action": "release", "items": ["4", "7"], "assignee": "nobody"})
    assert bulk.is_valid()
    assert bulk.cleaned_data["items"] == [4, 7]
    assert bulk.cleaned_data["assignee"] is None
    # An id that is not a whole number (superscripts included) refuses the whole action.
    for bad in ("x", "²", "99999999999999999999"):
        tampered = BulkForm({"action": "release", "items": ["4", bad]})
        assert not tampered.is_valid() and "items" in tampered.errors


# --- the views ----------------------------------------------------------------------------
def test_a_bad_wake_time_rerenders_with_the_message(client, pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    held = review_item_claim_next(user=pooled_reviewer)
    client.force_login(pooled_reviewer)
    response = client.post(
        f"/queue/items/{held.pk}/decide/",
        {"action": "defer", "wake_at": "soon", "generation": held.claim_generation},
    )
    assert response.status_code == 400
    assert "Not a date and time." in response.content.decode()
    assert not Decision.objects.exists()


def test_a_decision_without_a_generation_is_a_409(client, pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    held = review_item_claim_next(user=pooled_reviewer)
    client.force_login(pooled_reviewer)
    response = client.post(f"/queue/items/{held.pk}/decide/", {"action": "accept"})
    assert response.status_code == 409
    assert not Decision.objects.exists()
    renew = client.post(f"/queue/items/{held.pk}/renew/", {"generation": "x"})
    assert renew.status_code == 409 and "errors" in renew.json()


def test_a_note_error_shows_at_the_one_text_box(client, pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    held = review_item_claim_next(user=pooled_reviewer)
    client.force_login(pooled_reviewer)
    response = client.post(
        f"/queue/items/{held.pk}/decide/",
        {"action": "escalate", "reason": "x" * 2001, "generation": held.claim_generation},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="err-reason">At most 2000 characters.' in html


def test_assigning_to_nobody_says_pick_a_reviewer(client, lead, fraud_model):
    item = make_items(fraud_model, 1)[0]
    client.force_login(lead)
    response = client.post(f"/queue/items/{item.pk}/assign/", {"assignee": "ghost"})
    assert response.status_code == 302
    assert flashed(response) == ["Pick a reviewer."]
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.PENDING
    bulk = client.post("/queue/bulk/", {"action": "assign", "items": [item.pk]})
    assert flashed(bulk)[-1] == "Pick a reviewer."


def test_assigning_by_username_works(client, lead, pooled_reviewer, fraud_model):
    item = make_items(fraud_model, 1)[0]
    client.force_login(lead)
    response = client.post(f"/queue/items/{item.pk}/assign/", {"assignee": "ana"})
    assert flashed(response) == [f"Item #{item.pk} assigned to ana."]
    item.refresh_from_db()
    assert item.claimed_by == pooled_reviewer


def test_pool_changes_need_a_known_person(client, lead, reviewer, fraud_model):
    client.force_login(lead)
    response = client.post("/queue/pools/", {"model": "card-fraud", "user": "ghost"})
    assert flashed(response) == ["Pick a person."]
    assert client.post("/queue/pools/", {"model": "nope", "user": "ana"}).status_code == 404
    client.post("/queue/pools/", {"model": "card-fraud", "user": "ana"})
    assert PoolMembership.objects.filter(user=reviewer, model=fraud_model).exists()
    client.post("/queue/pools/", {"model": "card-fraud", "user": "ana", "op": "remove"})
    assert not PoolMembership.objects.filter(user=reviewer, model=fraud_model).exists()

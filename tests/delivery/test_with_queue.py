"""The whole loop with the queue's own services: claim, decide, undo, SLA breach -> webhooks."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import override_settings
from django.utils import timezone

from reviewapp.delivery import services
from reviewapp.delivery.models import Delivery
from reviewapp.models import ReviewItem
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.decisions import decision_undo, review_item_decide
from reviewapp.services.pools import pool_member_add
from reviewapp.services.sweeps import review_sla_sweep

from .factories import FALLBACK, make_item

pytestmark = pytest.mark.django_db


def _claim_and_decide(user, **kw):
    item = review_item_claim_next(user=user)
    assert item is not None
    return review_item_decide(item_id=item.pk, user=user, generation=item.claim_generation, **kw)


@override_settings(REVIEW_UNDO_SECONDS=5)
def test_queue_decisions_reach_the_producer_except_undone_ones(hooked_model, receiver, ana, lead):
    pool_member_add(model=hooked_model, user=ana, by=lead)
    for n in range(3):
        make_item(hooked_model, external_id=f"q-{n}")
    kept = _claim_and_decide(ana, action="override", label="legit", reason="known merchant")
    # --- double: an override on a critical model is held for a blind second review (issue 17);
    # a second reviewer agrees, which releases it.
    from reviewapp.services.claims import review_item_take
    from tests.factories import UserFactory

    ravi = UserFactory(username="ravi", roles=["reviewer"])
    pool_member_add(model=hooked_model, user=ravi, by=lead)
    second = review_item_take(item_id=ReviewItem.objects.get(purpose="second_review").pk, user=ravi)
    review_item_decide(
        item_id=second.pk, user=ravi, generation=second.claim_generation, action="override",
        label="legit", reason="agree",
    )  # fmt: skip
    # --- end double ---
    undone = _claim_and_decide(ana, action="accept")
    decision_undo(decision_id=undone.pk, user=ana)

    # Within the grace period nothing is queued; after it, only the decision that stands.
    assert services.deliveries_enqueue().total == 0
    later = timezone.now() + dt.timedelta(seconds=10)
    assert services.deliveries_enqueue(now=later).decisions == 1
    services.deliveries_send_due(now=later, time_budget=10)
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert [b["data"]["decision_id"] for b in bodies] == [kept.pk]
    assert bodies[0]["data"]["final_label"] == "legit"
    assert not Delivery.objects.filter(decision=undone).exists()


def test_sla_breach_from_the_sweep_is_announced_with_the_fallback(hooked_model, receiver):
    item = make_item(hooked_model, sla_due_at=timezone.now() - dt.timedelta(minutes=1))
    assert review_sla_sweep()["breached"] == 1
    assert ReviewItem.objects.get(pk=item.pk).sla_breached_at is not None
    assert services.deliveries_enqueue().timed_out == 1
    services.deliveries_send_due(time_budget=10)
    body = json.loads(receiver.requests[0]["body"])
    assert body["type"] == "review.timed_out"
    assert body["data"]["item_id"] == item.pk and body["data"]["fallback"] == FALLBACK

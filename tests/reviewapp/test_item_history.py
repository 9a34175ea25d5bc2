"""An item's history page: its own events found by index, whatever else the log holds."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re

import pytest
from django.apps import apps
from django.utils import timezone

from reviewapp.core.audit import Actor, audit_record_many, build_event
from reviewapp.core.models import AuditEvent
from reviewapp.delivery.models import Delivery
from reviewapp.delivery.services import deliveries_enqueue, delivery_retry_now
from reviewapp.models import MLModel, ReviewItem
from reviewapp.selectors.history import item_decisions, item_history
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.routing import predictions_route
from reviewapp.services.sweeps import review_sla_sweep
from tests.factories import envelope_for

from . import test_queue_fixtures as fx

pooled_reviewer = fx.pooled_reviewer
pytestmark = pytest.mark.django_db
backfill_migration = importlib.import_module(
    "reviewapp.core.migrations.0005_audit_subjects_backfill"
)
PREDICTION = "reviewapp.prediction"
# Far above any id a test database hands out, so no noise event names the item under test.
NOISE_IDS = 10**9


def shown_event_ids(html: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'<span class="muted small mono">#(\d+)</span>', html)}


def write_other_batches(n: int) -> list[int]:
    """``n`` ingest and routing events of other predictions, as busy producers would write."""
    events = []
    for k in range(n // 2):
        ids = [NOISE_IDS + 2 * k, NOISE_IDS + 2 * k + 1]
        target = (PREDICTION, f"{ids[0]}..{ids[1]}")
        events.append(
            build_event(
                actor=Actor.service("producer"),
                verb="queue.prediction.ingested",
                target=target,
                data={"count": 2, "ids": ids},
                subjects={PREDICTION: ids},
            )
        )
        events.append(
            build_event(
                actor=Actor.system("router"),
                verb="queue.prediction.routed",
                target=target,
                data={"to_review": ids[:1], "passed": ids[1:], "policies": {}},
                subjects={PREDICTION: ids},
            )
        )
    audit_record_many(events)
    return [e.pk for e in events]


def test_item_page_shows_its_events_among_500_others_in_the_same_seconds(
    client, api, lead, pooled_reviewer, fraud_model, django_assert_num_queries
):
    noise = write_other_batches(500)
    # A batch of two (the other one passes): its ingest and routing events name a range.
    body = {
        "predictions": [
            envelope_for(fraud_model, "busy-1", confidence=0.3),
            envelope_for(fraud_model, "busy-2", confidence=0.99),
        ]
    }
    response = api.post(
        "/api/v1/predictions/batch", json.dumps(body), content_type="application/json"
    )
    prediction_id, neighbour_id = (r["id"] for r in response.json()["results"])
    predictions_route(ids=[prediction_id, neighbour_id])
    noise += write_other_batches(500)
    item = ReviewItem.objects.get(prediction_id=prediction_id)
    # Past its deadline: one sweep raises its priority (a batch event) and stamps the breach.
    ReviewItem.objects.filter(pk=item.pk).update(
        sla_due_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert review_sla_sweep() == {"near": 1, "breached": 1}
    held = review_item_claim_next(user=pooled_reviewer)
    assert held.pk == item.pk
    fx.decide(held, pooled_reviewer, "override", label="legit", reason="amount is normal")

    own = {
        verb: pk
        for pk, verb in AuditEvent.objects.filter(id__gt=noise[499], id__lt=noise[500]).values_list(
            "id", "verb"
        )
    } | {
        verb: pk
        for pk, verb in AuditEvent.objects.filter(id__gt=noise[-1]).values_list("id", "verb")
    }
    expected = {
        "queue.prediction.ingested",
        "queue.prediction.routed",
        "queue.review_item.sla_warned",
        "queue.review_item.sla_breached",
        "queue.review_item.claimed",
        "queue.review_item.decided",
    }
    assert expected <= set(own)
    client.force_login(lead)
    html = client.get(f"/queue/items/{item.pk}/").content.decode()
    shown = shown_event_ids(html)
    assert {own[verb] for verb in expected} <= shown
    assert not shown & set(noise)
    for words in (
        "Ingested",
        "Routed to review",
        "Priority raised: SLA near",
        "SLA breached",
        "Claimed",
        "Decided",
        "policy v1",
    ):
        assert words in html, words
    # Two indexed lookups: the subject rows naming the item or prediction, then the events.
    item = ReviewItem.objects.select_related("prediction").get(pk=item.pk)
    decisions = item_decisions(item.pk)
    with django_assert_num_queries(2):
        history = item_history(item, decisions=decisions)
    assert {e.pk for e in history} == shown


def test_legacy_events_show_with_current_labels_after_the_backfill(client, lead, fraud_model):
    (item,) = fx.make_items(fraud_model, 1)
    old_routed, old_near, old_claim = AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor_type="system",
                actor_label="router",
                verb="prediction.routed",
                target_type=PREDICTION,
                target_id=f"{item.prediction_id}..{item.prediction_id + 5}",
                data={
                    "to_review": [item.prediction_id],
                    "passed": [item.prediction_id + 5],
                    "policies": {fraud_model.slug: [7, "deadbeef" + "0" * 56]},
                },
            ),
            AuditEvent(
                actor_type="system",
                actor_label="review-queue",
                verb="review_item.sla_near",
                target_type="reviewapp.reviewitem",
                target_id=f"{item.pk}..{item.pk + 3}",
                data={"ids": [item.pk, item.pk + 3], "priority_bump": 20},
            ),
            AuditEvent(
                actor_type="user",
                actor_label="old-reviewer",
                verb="review_item.claimed",
                target_type="reviewapp.reviewitem",
                target_id=str(item.pk),
            ),
        ]
    )
    backfill_migration.backfill(apps, None)
    client.force_login(lead)
    html = client.get(f"/queue/items/{item.pk}/").content.decode()
    assert {old_routed.pk, old_near.pk, old_claim.pk} <= shown_event_ids(html)
    # The legacy routing event gets the routed line like a current one.
    assert "policy v7 (deadbeef)" in html
    assert "Priority raised: SLA near" in html
    assert 'title="review_item.claimed">Claimed<' in html


def test_item_history_follows_the_items_deliveries(client, lead, fraud_model):
    (item,) = fx.make_items(fraud_model, 1)
    (other,) = fx.make_items(fraud_model, 1)
    ReviewItem.objects.filter(pk__in=[item.pk, other.pk]).update(
        sla_due_at=timezone.now() - dt.timedelta(seconds=1)
    )
    review_sla_sweep()
    # No callback URL: both time-out notices are skipped in one fill, then a lead retries one.
    assert deliveries_enqueue().timed_out == 2
    MLModel.objects.filter(pk=fraud_model.pk).update(callback_url="https://example.com/hook")
    mine = Delivery.objects.get(item=item)
    theirs = Delivery.objects.get(item=other)
    delivery_retry_now(delivery_id=mine.pk, user=lead)
    delivery_retry_now(delivery_id=theirs.pk, user=lead)

    history = item_history(ReviewItem.objects.get(pk=item.pk))
    fill = next(e for e in history if e.canonical_verb == "delivery.delivery.enqueued")
    assert fill.data["items"] == [item.pk, other.pk] or fill.data["items"] == [other.pk, item.pk]
    retries = [e for e in history if e.target_type == "delivery.delivery"]
    assert [e.target_id for e in retries] == [str(mine.pk)]
    assert (retries[0].verb, retries[0].label) == (
        "delivery.delivery.requeued",
        "Delivery queued again",
    )
    client.force_login(lead)
    html = client.get(f"/queue/items/{item.pk}/").content.decode()
    assert "Delivery queued" in html

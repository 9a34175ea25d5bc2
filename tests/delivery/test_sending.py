"""Sending from the outbox to a real local HTTP receiver: signatures, retries, stops, refusals."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import random

import pytest
from django.test import override_settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from reviewapp.core.exceptions import Conflict
from reviewapp.core.models import AuditEvent
from reviewapp.delivery import services
from reviewapp.delivery.models import Delivery, DeliveryAttempt
from reviewapp.models import Decision

from .factories import FALLBACK, make_decision, make_item

pytestmark = pytest.mark.django_db


def _deliver(now=None, rng=None):
    return services.deliveries_send_due(now=now, rng=rng, time_budget=30)


def test_decision_is_delivered_signed_per_standard_webhooks(hooked_model, receiver, ana):
    item = make_item(hooked_model, external_id="txn-42")
    decision = make_decision(
        item, ana, action=Decision.Action.OVERRIDE, final_label="legit", reason="known merchant"
    )
    assert services.deliveries_enqueue().decisions == 1
    report = _deliver()
    assert report.results == {"delivered": 1}

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    body = request["body"]
    delivery = Delivery.objects.get()
    assert headers["webhook-id"] == delivery.message_id
    assert abs(int(headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60

    # Independently: base64(HMAC-SHA256(key, "id.timestamp.body")) with the decoded secret.
    key = base64.b64decode(hooked_model.callback_secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    # And with the specification's own library, as a receiver would.
    verified = Webhook(hooked_model.callback_secret).verify(body, headers)
    assert verified["type"] == "decision.made"
    data = verified["data"]
    assert data["decision_id"] == decision.pk
    assert data["external_id"] == "txn-42"
    assert data["action"] == "override" and data["outcome"] == "overridden"
    assert data["final_label"] == "legit" and data["reason"] == "known merchant"
    assert data["reviewer"] == "ana"
    assert data["policy_hash"] == item.prediction.policy_hash
    assert data["policy_version"] == item.prediction.policy_version.version

    # A tampered body fails verification.
    with pytest.raises(Exception):  # noqa: B017 - the library's own error type
        Webhook(hooked_model.callback_secret).verify(body + b" ", headers)

    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert delivery.last_status_code == 200 and delivery.delivered_at is not None
    assert AuditEvent.objects.filter(
        verb="delivery.delivery.delivered", target_id=str(delivery.pk)
    ).exists()


def test_retries_with_backoff_until_the_receiver_accepts(hooked_model, receiver, ana):
    receiver.fail_first(3, code=503)
    make_decision(make_item(hooked_model), ana)
    t0 = timezone.now()
    services.deliveries_enqueue(now=t0)
    now = t0
    seen = []
    for _ in range(10):
        _deliver(now=now, rng=random.Random(7))
        delivery = Delivery.objects.get()
        seen.append(delivery.status)
        if delivery.status != "pending":
            break
        assert delivery.next_attempt_at > now  # not due again until the backoff has passed
        assert _deliver(now=now).claimed == 0
        now = delivery.next_attempt_at
    delivery = Delivery.objects.get()
    assert delivery.status == "delivered"
    assert delivery.attempts == 4
    assert len(receiver.requests) == 4
    # Same message id on every retry, so receivers can dedupe.
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1

    attempts = list(DeliveryAttempt.objects.order_by("number"))
    assert [a.outcome for a in attempts] == ["retry", "retry", "retry", "delivered"]
    assert [a.status_code for a in attempts] == [503, 503, 503, 200]
    base = 30  # WEBHOOK_RETRY_BASE_SECONDS, jitter 0.2
    for a in attempts[:3]:
        waited = (a.next_attempt_at - a.started_at).total_seconds()
        nominal = base * 2 ** (a.number - 1)
        assert nominal * 0.8 <= waited <= nominal * 1.2, (a.number, waited)
    # Each attempt ran when the previous one said it would.
    for prev, cur in zip(attempts, attempts[1:], strict=False):
        assert cur.started_at == prev.next_attempt_at
    # Each retry is a pending -> pending transition of its own, audited.
    verbs = AuditEvent.objects.filter(
        target_type="delivery.delivery", target_id=str(delivery.pk)
    ).order_by("id")
    assert list(verbs.values_list("verb", flat=True)) == [
        *["delivery.delivery.rescheduled"] * 3,
        "delivery.delivery.delivered",
    ]
    assert verbs[0].before == {"status": "pending", "attempts": 0}
    assert verbs[0].after == {"status": "pending", "attempts": 1}
    assert attempts[0].error.startswith("The receiver answered HTTP 503")


def test_gone_stops_delivery(hooked_model, receiver, ana):
    receiver.fail_first(1, code=410)
    make_decision(make_item(hooked_model), ana)
    services.deliveries_enqueue()
    _deliver()
    delivery = Delivery.objects.get()
    assert delivery.status == "stopped" and delivery.attempts == 1
    assert delivery.next_attempt_at is None
    # Nothing is sent again, even much later.
    assert _deliver(now=timezone.now() + dt.timedelta(hours=2)).claimed == 0
    assert len(receiver.requests) == 1


def test_gives_up_after_the_maximum_age(hooked_model, receiver, ana):
    receiver.fail_first(1000, code=500)
    make_decision(make_item(hooked_model), ana)
    t0 = timezone.now()
    services.deliveries_enqueue(now=t0)
    now = t0
    while Delivery.objects.get().status == "pending":
        _deliver(now=now)
        delivery = Delivery.objects.get()
        now = delivery.next_attempt_at or now
    delivery = Delivery.objects.get()
    assert delivery.status == "failed"
    last = DeliveryAttempt.objects.order_by("-number").first()
    assert last.outcome == "failed"
    assert last.started_at <= t0 + dt.timedelta(hours=24)
    # Backoff is capped (2 h), so a day holds a dozen or more attempts, not hundreds.
    assert 10 <= delivery.attempts <= 25
    assert len(receiver.requests) == delivery.attempts


def test_redirects_are_not_followed(hooked_model, receiver, ana):
    receiver.fail_first(1, code=302)
    make_decision(make_item(hooked_model), ana)
    services.deliveries_enqueue()
    _deliver()
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and delivery.last_status_code == 302
    assert len(receiver.requests) == 1


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)
def test_private_address_is_refused_at_send_time(hooked_model, receiver, ana):
    make_decision(make_item(hooked_model), ana)
    services.deliveries_enqueue()
    _deliver()
    delivery = Delivery.objects.get()
    assert receiver.requests == []
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "loopback" in delivery.last_error
    assert DeliveryAttempt.objects.get().outcome == "retry"


def test_timed_out_notice_carries_the_fallback(hooked_model, receiver):
    item = make_item(hooked_model, external_id="txn-late")
    item.sla_breached_at = timezone.now()
    item.save(update_fields=["sla_breached_at"])
    report = services.deliveries_enqueue()
    assert report.timed_out == 1
    assert services.deliveries_enqueue().total == 0  # idempotent
    _deliver()
    body = json.loads(receiver.requests[0]["body"])
    assert receiver.requests[0]["headers"]["webhook-id"].startswith("msg_")
    assert body["type"] == "review.timed_out"
    assert body["data"]["fallback"] == FALLBACK
    assert body["data"]["external_id"] == "txn-late"
    assert Delivery.objects.get().status == "delivered"


def test_decision_undone_after_queueing_is_never_sent(hooked_model, receiver, ana):
    decision = make_decision(make_item(hooked_model), ana)
    services.deliveries_enqueue()
    Decision.objects.filter(pk=decision.pk).update(undone_at=timezone.now(), undone_by=ana)
    _deliver()
    assert receiver.requests == []
    delivery = Delivery.objects.get()
    assert delivery.status == "cancelled" and delivery.attempts == 0


def test_a_lost_lease_does_not_overwrite_the_new_holder(hooked_model, receiver, ana):
    make_decision(make_item(hooked_model), ana)
    services.deliveries_enqueue()
    now = timezone.now()
    ids, first = services.deliveries_claim_due(now=now, limit=10)
    assert len(ids) == 1
    # Nobody else gets the row while the lease holds...
    assert services.deliveries_claim_due(now=now, limit=10)[0] == []
    # ...but once it ends (the first sender died), another sender takes it over.
    later = now + dt.timedelta(minutes=5)
    ids2, second = services.deliveries_claim_due(now=later, limit=10)
    assert ids2 == ids
    assert services.delivery_send(delivery_id=ids[0], claim_token=first, now=later) == "lost"
    assert services.delivery_send(delivery_id=ids[0], claim_token=second, now=later) == "delivered"
    assert Delivery.objects.get().attempts == 1


def test_retry_now_resends_a_failed_delivery_and_is_audited(hooked_model, receiver, ana, lead):
    make_decision(make_item(hooked_model), ana)
    services.deliveries_enqueue()
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(
        status="failed", next_attempt_at=None, attempts=16
    )
    services.delivery_retry_now(delivery_id=delivery.pk, user=lead)
    event = AuditEvent.objects.get(verb="delivery.delivery.requeued", target_id=str(delivery.pk))
    assert event.actor_label == "lee" and event.before == {"status": "failed", "attempts": 16}
    _deliver()
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 17
    with pytest.raises(Conflict):
        services.delivery_retry_now(delivery_id=delivery.pk, user=lead)

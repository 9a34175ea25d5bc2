"""A mode change reaches the producer's callback as a signed ``model.mode_changed`` event,
through the delivery outbox (same Standard Webhooks signing and retries as decisions),
written in the switch's transaction; the delivery pages take item-less deliveries."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from reviewapp.core.models import AuditEvent
from reviewapp.delivery import services
from reviewapp.delivery.models import Delivery
from reviewapp.failsafe.models import Alert
from reviewapp.failsafe.services.modes import mode_change
from reviewapp.models import ModelMode

from .modes_helpers import session_client, switch

pytestmark = pytest.mark.django_db


def _send():
    return services.deliveries_send_due(time_budget=30)


def test_a_lead_switch_is_delivered_signed(hooked_model, receiver, lead):
    change = switch(hooked_model, "contained", lead, reason="Amounts drifted.")
    delivery = Delivery.objects.get()
    assert delivery.kind == Delivery.Kind.MODE_CHANGED and delivery.item_id is None
    assert delivery.event_type == "model.mode_changed" and delivery.status == "pending"
    assert _send().results == {"delivered": 1}

    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    event = Webhook(hooked_model.callback_secret).verify(request["body"], headers)
    assert headers["webhook-id"] == delivery.message_id
    assert event["type"] == "model.mode_changed"
    row = ModelMode.objects.get()
    assert event["data"] == {
        "delivery_id": delivery.message_id,
        "model": "card-fraud",
        "mode": "contained",
        "previous_mode": "normal",
        "since": row.since.isoformat().replace("+00:00", "Z"),
        "reason": "Amounts drifted.",
        "review_by": change.review_by.isoformat().replace("+00:00", "Z"),
        "changed_by": "person",
        "monitor": None,
    }
    # No person's name or id goes to the producer for a switch.
    assert lead.username.encode() not in request["body"]
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    with pytest.raises(Exception):  # noqa: B017 - the library's own error type
        Webhook(hooked_model.callback_secret).verify(request["body"] + b" ", headers)


def test_a_monitor_switch_and_the_lift_are_events_too(hooked_model, receiver, lead):
    alert = Alert.objects.create(
        model=hooked_model, monitor="ood_rate", rule={}, severity="S1",
        since=hooked_model.created_at, state=Alert.State.ACKNOWLEDGED,
    )  # fmt: skip
    mode_change(
        model=hooked_model, mode="halted", reason="OOD rate above 0.4 for 30 min.",
        monitor="ood_rate", rule={"bound": 0.4}, alert=alert,
    )  # fmt: skip
    switch(hooked_model, "normal", lead, reason="Upstream fixed.")
    assert _send().results == {"delivered": 2}
    # The outbox sends in id order: the halt, then the lift.
    halted, lifted = [
        Webhook(hooked_model.callback_secret).verify(
            r["body"], {k.lower(): v for k, v in r["headers"].items()}
        )["data"]
        for r in receiver.requests
    ]
    assert (halted["mode"], halted["changed_by"], halted["monitor"]) == (
        "halted", "monitor", "ood_rate"
    )  # fmt: skip
    assert (lifted["mode"], lifted["previous_mode"], lifted["review_by"]) == (
        "normal", "halted", None
    )  # fmt: skip


def test_the_event_is_retried_like_a_decision(hooked_model, receiver, lead):
    receiver.fail_first(1, code=503)
    switch(hooked_model, "contained", lead)
    assert _send().results == {"pending": 1}
    delivery = Delivery.objects.get()
    assert delivery.attempts == 1 and delivery.next_attempt_at is not None


def test_a_rolled_back_switch_sends_nothing(hooked_model, lead):
    with pytest.raises(RuntimeError), transaction.atomic():
        switch(hooked_model, "contained", lead)
        raise RuntimeError("the caller failed after the switch")
    assert not Delivery.objects.exists() and not ModelMode.objects.exists()


def test_without_a_callback_the_event_is_kept_as_skipped(fraud_model, lead):
    switch(fraud_model, "contained", lead)
    delivery = Delivery.objects.get()
    assert delivery.status == "skipped" and delivery.item_id is None
    assert AuditEvent.objects.filter(
        verb="delivery.delivery.enqueued", target_id=str(delivery.pk)
    ).exists()


def test_the_delivery_log_lists_item_less_deliveries(client, hooked_model, lead):
    """The log linked every row to its item; a model event has none (it was a 500)."""
    switch(hooked_model, "contained", lead)
    client.force_login(lead)
    page = client.get(reverse("delivery:list"))
    assert page.status_code == 200
    assert "model.mode_changed" in page.content.decode()


def test_the_decisions_feed_ignores_model_events(api, hooked_model, lead):
    switch(hooked_model, "contained", lead)
    feed = api.get("/api/v1/decisions")
    assert feed.status_code == 200
    assert feed.json()["results"] == []


def test_the_admin_lists_item_less_deliveries(hooked_model, lead):
    from django.contrib.auth import get_user_model

    switch(hooked_model, "contained", lead)
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = session_client(admin)
    assert client.get("/admin/delivery/delivery/").status_code == 200
    pk = Delivery.objects.get().pk
    assert client.get(f"/admin/delivery/delivery/{pk}/change/").status_code == 200

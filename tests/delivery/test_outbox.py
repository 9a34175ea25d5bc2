"""Filling the outbox: which decisions and time-outs go out, once each, never an undone one."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from reviewapp.core.models import AuditEvent
from reviewapp.delivery import services
from reviewapp.delivery.models import Delivery
from reviewapp.models import Decision
from tests.factories import MLModelFactory, make_policy

from .factories import make_decision, make_item


@pytest.mark.django_db
def test_only_released_final_decisions_are_queued(hooked_model, ana):
    accepted = make_decision(make_item(hooked_model), ana)
    overridden = make_decision(
        make_item(hooked_model), ana, action=Decision.Action.OVERRIDE, final_label="legit"
    )
    in_grace = make_decision(make_item(hooked_model), ana, grace=dt.timedelta(seconds=30))
    undone = make_decision(make_item(hooked_model), ana, undone=True)
    escalated = make_decision(make_item(hooked_model), ana, action=Decision.Action.ESCALATE)
    deferred = make_decision(make_item(hooked_model), ana, action=Decision.Action.DEFER)

    report = services.deliveries_enqueue()
    assert report.decisions == 2
    queued = set(Delivery.objects.values_list("decision_id", flat=True))
    assert queued == {accepted.pk, overridden.pk}
    for skipped in (in_grace, undone, escalated, deferred):
        assert skipped.pk not in queued
    row = Delivery.objects.get(decision=accepted)
    assert row.status == "pending" and row.next_attempt_at is not None
    assert row.event_type == "decision.made"
    assert row.payload["data"]["decision_id"] == accepted.pk
    assert row.payload["data"]["delivery_id"] == row.message_id
    assert row.retry_until == row.created_at + dt.timedelta(hours=24)
    assert AuditEvent.objects.filter(verb="delivery.delivery.enqueued").count() == 1

    # Running again adds nothing; once the grace period is over, that decision follows.
    assert services.deliveries_enqueue().total == 0
    later = timezone.now() + dt.timedelta(minutes=1)
    assert services.deliveries_enqueue(now=later).decisions == 1
    assert Delivery.objects.filter(decision=in_grace).exists()
    assert not Delivery.objects.filter(decision=undone).exists()


@pytest.mark.django_db
def test_model_without_callback_is_recorded_as_skipped(ana):
    model = MLModelFactory(slug="no-hook", labels=["fraud", "legit"])
    make_policy(model)
    decision = make_decision(make_item(model), ana)
    services.deliveries_enqueue()
    row = Delivery.objects.get(decision=decision)
    assert row.status == "skipped" and row.next_attempt_at is None
    assert "feed" in row.last_error
    assert services.deliveries_send_due(time_budget=5).claimed == 0


@pytest.mark.django_db
def test_timed_out_items_are_queued_once_and_not_after_a_decision(hooked_model, ana):
    breached = make_item(hooked_model, sla_breached_at=timezone.now())
    decided = make_item(hooked_model, sla_breached_at=timezone.now())
    make_decision(decided, ana)
    make_item(hooked_model)  # within its SLA: nothing to tell
    report = services.deliveries_enqueue()
    assert report.timed_out == 2
    notice = Delivery.objects.get(item=breached, kind="timed_out")
    assert notice.status == "pending" and notice.event_type == "review.timed_out"
    assert notice.payload["data"]["fallback"]["action"] == "hold"
    late = Delivery.objects.get(item=decided, kind="timed_out")
    assert late.status == "cancelled"
    # The decision on the breached item itself still goes out.
    assert Delivery.objects.filter(item=decided, kind="decision").count() == 1
    assert services.deliveries_enqueue().total == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_fills_queue_each_decision_once(hooked_model, ana):
    decisions = [make_decision(make_item(hooked_model), ana) for _ in range(30)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def fill() -> None:
        try:
            barrier.wait()
            services.deliveries_enqueue(batch_size=7)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=fill) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Delivery.objects.count() == len(decisions)
    assert set(Delivery.objects.values_list("decision_id", flat=True)) == {d.pk for d in decisions}
    # Audit events name exactly the rows each fill inserted: no row twice, none missing.
    named = [
        pk
        for data in AuditEvent.objects.filter(verb="delivery.delivery.enqueued").values_list(
            "data", flat=True
        )
        for pk in data["deliveries"]
    ]
    assert sorted(named) == sorted(Delivery.objects.values_list("id", flat=True))


@override_settings(WEBHOOK_TIMEOUT_SECONDS=30)
@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_never_send_one_delivery_twice(hooked_model, receiver, ana):
    for _ in range(12):
        make_decision(make_item(hooked_model), ana)
    services.deliveries_enqueue()
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def send() -> None:
        try:
            barrier.wait()
            services.deliveries_send_due(batch_size=3, time_budget=60)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # On a loaded machine a sender may run out of budget; whatever is left is sent now. The
    # property under test is that no message went out twice.
    services.deliveries_send_due(time_budget=30)
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}

"""The beat tasks are registered, scheduled, and call the services (run in-process here)."""

from __future__ import annotations

import pytest
from django.conf import settings

from reviewapp.celery import app
from reviewapp.delivery import tasks
from reviewapp.delivery.models import Delivery

from .factories import make_decision, make_item


def test_beat_schedules_both_delivery_tasks():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in ("failsafe.delivery_fill", "failsafe.delivery_send"):
        assert name in scheduled
        assert name in app.tasks


@pytest.mark.django_db
def test_fill_then_send(
    hooked_model, receiver, ana, django_capture_on_commit_callbacks, monkeypatch
):
    make_decision(make_item(hooked_model), ana)
    kicked = []
    monkeypatch.setattr(tasks.send_due_deliveries, "delay", lambda: kicked.append(True))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.fill_delivery_outbox() == 1
    assert kicked == [True]  # a fill that queued something wakes the sender at once
    assert tasks.send_due_deliveries() == 1
    assert Delivery.objects.get().status == "delivered"
    assert len(receiver.requests) == 1
    # Both are harmless to repeat.
    assert tasks.fill_delivery_outbox() == 0
    assert tasks.send_due_deliveries() == 0

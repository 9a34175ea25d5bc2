"""Shift samples: recent auto-accepted predictions queued for review on a persistent shift."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from reviewapp.core.models import AuditEvent
from reviewapp.failsafe import monitors
from reviewapp.failsafe.models import Alert
from reviewapp.failsafe.services.samples import shift_sample
from reviewapp.models import Prediction, Purpose, ReviewItem

from .monitor_helpers import NOW, T, buckets, folded

pytestmark = pytest.mark.django_db
_seq = itertools.count(1)


def prediction(model, *, received_at, status=Prediction.Status.PASSED):
    return Prediction.objects.create(
        model=model, external_id=f"s-{next(_seq)}", model_version="1", input={"a": 1},
        output={"label": "legit"}, label="legit", confidence=0.97, occurred_at=received_at,
        received_at=received_at, status=status, routed=False, reason_codes=[],
        routed_at=received_at,
    )  # fmt: skip


def test_a_shift_queues_the_most_recent_passes_once(fraud_model, settings):
    settings.FAILSAFE_SHIFT_SAMPLE_SIZE = 3
    before = prediction(fraud_model, received_at=T - dt.timedelta(hours=2))  # before the shift
    passed = [
        prediction(fraud_model, received_at=T - dt.timedelta(minutes=14 - i)) for i in range(5)
    ]
    halted = prediction(
        fraud_model, received_at=T - dt.timedelta(minutes=1), status=Prediction.Status.FALLBACK
    )
    buckets(fraud_model, end=T, count=3, received=100, anomalies=50)
    folded()
    monitors.monitors_evaluate(now=NOW)
    monitors.monitors_evaluate(now=NOW + dt.timedelta(seconds=30))  # acted on once
    items = ReviewItem.objects.filter(purpose=Purpose.SHIFT_SAMPLE)
    assert sorted(i.prediction_id for i in items) == sorted(p.pk for p in passed[-3:])
    assert before.pk not in {i.prediction_id for i in items}
    assert halted.pk not in {i.prediction_id for i in items}  # a fallback never passed
    # The routing records are untouched.
    for p in passed:
        p.refresh_from_db()
        assert p.status == "passed" and p.routed is False and p.reason_codes == []
    event = AuditEvent.objects.get(verb="failsafe.shift_sample.queued")
    assert sorted(event.data["predictions"]) == sorted(p.pk for p in passed[-3:])
    # Asked again (another alert), a prediction never gets a second shift-sample item.
    again = shift_sample(model=fraud_model, alert=Alert.objects.get(), size=10, now=NOW)
    assert sorted(again) == sorted(p.pk for p in passed[:2])
    assert shift_sample(model=fraud_model, alert=Alert.objects.get(), size=10, now=NOW) == []
    assert ReviewItem.objects.filter(purpose=Purpose.SHIFT_SAMPLE).count() == 5


def test_operational_monitors_queue_no_sample(fraud_model):
    prediction(fraud_model, received_at=T - dt.timedelta(minutes=3))
    buckets(fraud_model, end=T, count=12, received=10, open_queue=900)
    folded()
    monitors.monitors_evaluate(now=NOW)
    assert Alert.objects.get(monitor="open-queue").action_taken == "notify"
    assert not ReviewItem.objects.filter(purpose=Purpose.SHIFT_SAMPLE).exists()

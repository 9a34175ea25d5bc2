"""A persistent shift is announced with what the monitor did about it.

Found by the real-worker test (test_pipeline_worker.py): the evaluator ran the
``failsafe.alert_opened`` / ``failsafe.alert_escalated`` hooks before it took the monitor's
action, so the people told and the on-call webhook read "persistent shift · notified only"
for an alert that contained the model a moment later (docs/failsafe.md, "Notifications").
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import pytest

from reviewapp.core import registry
from reviewapp.core.models import Notification
from reviewapp.failsafe import monitors
from reviewapp.failsafe.models import Alert
from reviewapp.models import Mode, ModelMode
from tests.factories import UserFactory

from .monitor_helpers import FIVE, NOW, T, bucket, buckets, folded

pytestmark = pytest.mark.django_db
NORMAL = {"received": 100, "anomalies": 0}
BAD = {"received": 100, "anomalies": 50}


def run(now=NOW):
    folded(now)
    return monitors.monitors_evaluate(now=now)


@pytest.fixture
def told(fraud_model):
    owner = UserFactory(username="olga", roles=["engineer"])
    fraud_model.owners.add(owner)
    UserFactory(username="lee", roles=["lead"])
    return owner


@contextmanager
def announced(name: str):
    """What each call of hook ``name`` saw, read when it was called: (shape, action taken,
    the model's mode)."""
    seen: list[tuple] = []

    def spy(*, alert):
        mode = ModelMode.objects.filter(model=alert.model_id).values_list("mode", flat=True)
        seen.append((alert.shape, alert.action_taken, mode.first() or Mode.NORMAL))

    registry.register_hook(name, spy)
    try:
        yield seen
    finally:
        registry.unregister_hook(name, spy)


def test_a_shift_is_announced_after_the_model_is_contained(fraud_model, told):
    buckets(fraud_model, end=T - 3 * FIVE, count=9, **NORMAL)
    buckets(fraud_model, end=T, count=3, **BAD)  # the whole duration at once
    with announced("failsafe.alert_opened") as seen:
        run()
    assert seen == [("shift", "contain", Mode.CONTAINED)]
    title = Notification.objects.get(recipient=told, kind="failsafe.alert_opened").title
    assert "persistent shift" in title and "model contained" in title, title


def test_a_spike_that_becomes_a_shift_is_announced_after_the_action(fraud_model, told):
    buckets(fraud_model, end=T - FIVE, count=12, **NORMAL)
    bucket(fraud_model, T - FIVE, **BAD)
    run()
    assert Alert.objects.get().shape == "spike"
    bucket(fraud_model, T, **BAD)
    bucket(fraud_model, T + FIVE, **BAD)
    with announced("failsafe.alert_escalated") as seen:
        run(NOW + 2 * FIVE)
    assert seen == [("shift", "contain", Mode.CONTAINED)]
    titles = list(
        Notification.objects.filter(recipient=told, kind="failsafe.alert_opened")
        .order_by("id")
        .values_list("title", flat=True)
    )
    assert len(titles) == 2 and "notified only" in titles[0]  # the spike
    assert "persistent shift" in titles[1] and "model contained" in titles[1], titles


def test_a_notify_monitor_still_announces_once(fraud_model, told):
    # An override-rate shift (notify): opened once, announced once, says "notified only".
    buckets(fraud_model, end=T, count=12, accepted=10, overridden=10)
    with announced("failsafe.alert_opened") as seen:
        run()
        run(NOW + dt.timedelta(seconds=30))
    assert seen == [("shift", "notify", Mode.NORMAL)]
    assert not ModelMode.objects.filter(model=fraud_model).exists()

"""A spike that becomes a persistent shift, through the real hooks (no spies): the escalation's
notice and its on-call webhook event are accepted (``alert.escalated`` was missing from the
webhook's events, so every escalation raised and rolled the beat run back)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from reviewapp.failsafe.models import Alert
from reviewapp.failsafe.monitors import DEFAULT_MONITORS, SHIFT, SPIKE, MonitorState, rule_of
from reviewapp.failsafe.services.alerts import alert_open, alert_update

pytestmark = pytest.mark.django_db


def state(kind, value, since, as_of):
    monitor = dict(next(m for m in DEFAULT_MONITORS if m["name"] == "uncertain-rate"))
    return MonitorState(
        monitor=monitor, rule=rule_of(monitor), state=kind, value=value, since=since, as_of=as_of
    )


@pytest.mark.parametrize("url", ["", "https://oncall.example.com/hook"])
def test_spike_escalates_to_a_shift_through_the_real_hooks(fraud_model, lead, url):
    now = timezone.now()
    since = now - dt.timedelta(minutes=30)
    with override_settings(
        FAILSAFE_ALERT_WEBHOOK_URL=url,
        FAILSAFE_ALERT_WEBHOOK_SECRET="whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
    ):
        alert = alert_open(
            model=fraud_model, monitor_state=state(SPIKE, 0.6, since, now), version=None, now=now
        )
        alert_update(alert=alert, monitor_state=state(SHIFT, 0.7, since, now), now=now)
    assert Alert.objects.get(pk=alert.pk).shape == Alert.Shape.SHIFT

"""Alerts for the alerts tests, made directly (the evaluator that opens them is another
part's): a shift on card-fraud's uncertain rate that contained it, and a few more."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from reviewapp.failsafe.models import Alert
from reviewapp.models import MLModel

UNCERTAIN_RULE = {
    "metric": "uncertain_rate",
    "op": ">",
    "bound": 0.15,
    "duration_minutes": 30,
    "severity": "S1",
    "action": "contain",
}


def make_alert(
    model: MLModel,
    *,
    monitor: str = "uncertain_rate",
    severity: str = "S1",
    shape: str = Alert.Shape.SHIFT,
    state: str = Alert.State.OPEN,
    action_taken: str = "contain",
    minutes_ago: int = 45,
    value: float = 0.42,
    rule: dict | None = None,
    **fields,
) -> Alert:
    now = timezone.now()
    since = now - dt.timedelta(minutes=minutes_ago)
    rule = dict(rule or {**UNCERTAIN_RULE, "metric": monitor, "severity": severity})
    return Alert.objects.create(
        model=model,
        monitor=monitor,
        rule=rule,
        monitors_version=3,
        severity=severity,
        state=state,
        shape=shape,
        since=since,
        value=value,
        peak=max(value, 0.51),
        last_value=0.47,
        last_evaluated_at=now - dt.timedelta(minutes=2),
        action_taken=action_taken,
        action_at=since + dt.timedelta(minutes=30) if action_taken else None,
        opened_at=since + dt.timedelta(minutes=5),
        **fields,
    )

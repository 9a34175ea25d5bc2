"""Alerts: a monitor's bound crossed, open → acknowledged → resolved, one unresolved alert per
(model, monitor).

* :func:`alert_open` when a monitor first reads ``spike`` or ``shift``; runs the hook
  ``failsafe.alert_opened`` (alert=) in the transaction (notifications and the on-call webhook
  register on it). On a shift whose action is still to be taken, :func:`alerts_apply` runs
  the hook (:func:`alert_announce`) after the action instead, so the notice and the webhook
  say what was done ("model contained"), not "notified only".
* :func:`alert_update` while it stays past the bound: the latest value and peak; a spike that
  lasts its duration becomes a shift (hook ``failsafe.alert_escalated``), and on a shift the
  monitor's action is taken once per alert (contain or halt through ``mode_change``) and a
  shift sample is queued (``samples.shift_sample``).
* :func:`alert_resolve` only when the metric has been back inside its absolute bound for the
  monitor's resolve time (``FAILSAFE_ALERT_RESOLVE_MINUTES``); hook ``failsafe.alert_resolved``.
  No data never resolves an alert (nor opens one).

The figures refreshed every run (latest value, peak, when it came back inside, when it was last
judged) are written without an audit event, like the dashboards' fold: they are readings
derived from the 5-minute buckets, and an event a minute per alert would drown the log. Every
change of what an alert *is* (opened, escalated to a shift, acted on, resolved) is audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from reviewapp.core import clock, registry, state
from reviewapp.core.audit import Actor, audit_record
from reviewapp.models import MLModel, Mode, ModelMode

from ..models import Alert
from ..monitors import (
    NO_DATA,
    OK,
    SHIFT,
    SPIKE,
    MonitorState,
    resolve_minutes,
    shift_sample_size,
    snapshot_of,
)
from .alert_state import ALERT
from .modes import mode_change
from .samples import shift_sample

ALERT_OPENED_HOOK = "failsafe.alert_opened"
ALERT_ESCALATED_HOOK = "failsafe.alert_escalated"
ALERT_RESOLVED_HOOK = "failsafe.alert_resolved"

# The alert's state machine (acknowledge, resolve) is declared once, in alert_state.py.

# How strong each mode is: a monitor never weakens a stop already in place.
STRENGTH = {Mode.NORMAL: 0, Mode.CONTAINED: 1, Mode.HALTED: 2}
ACTION_MODE = {"contain": Mode.CONTAINED, "halt": Mode.HALTED}


def _monitor_actor(monitor: str) -> Actor:
    return Actor.system(f"monitor:{monitor}")


def _rule_dict(s: MonitorState) -> dict[str, Any]:
    keys = ("metric", "op", "bound", "duration_minutes", "severity", "action")
    rule = {k: s.monitor[k] for k in keys if k in s.monitor}
    rule["resolve_minutes"] = resolve_minutes(s.monitor)
    rule["shift_sample_size"] = shift_sample_size(s.monitor)
    return rule


def alert_open(
    *, model: MLModel, monitor_state: MonitorState, version: int | None,
    now: dt.datetime | None = None, announce: bool = True,
) -> Alert:  # fmt: skip
    """Open the alert of a monitor that reads spike or shift (the caller checked none is
    unresolved; the unique constraint refuses a second one). ``announce=False``: the caller
    runs the opened hook itself (:func:`alert_announce`), once it has acted."""
    s = monitor_state
    assert s.state in (SPIKE, SHIFT)
    now = now or clock.now()
    with transaction.atomic():
        alert = Alert.objects.create(
            model=model,
            monitor=s.name,
            rule=_rule_dict(s),
            monitors_version=version,
            severity=s.monitor.get("severity", ""),
            state=Alert.State.OPEN,
            shape=Alert.Shape.SHIFT if s.state == SHIFT else Alert.Shape.SPIKE,
            since=s.since or now,
            value=s.value,
            peak=s.value,
            last_value=s.value,
            last_evaluated_at=now,
            opened_at=now,
        )
        audit_record(
            actor=_monitor_actor(s.name),
            verb="failsafe.alert.opened",
            target=alert,
            after={"state": alert.state, "shape": alert.shape},
            data={
                "model": model.slug,
                "monitor": s.name,
                "rule": alert.rule,
                "value": s.value,
                "since": alert.since.isoformat(),
                "monitors_version": version,
            },
        )
        if announce:
            registry.run_hooks_apart(ALERT_OPENED_HOOK, alert=alert)
    return alert


def _peak(alert: Alert, value: float | None) -> float | None:
    if value is None:
        return alert.peak
    if alert.peak is None:
        return value
    higher = alert.rule.get("op", ">") == ">"
    return max(alert.peak, value) if higher else min(alert.peak, value)


def alert_update(
    *,
    alert: Alert,
    monitor_state: MonitorState,
    now: dt.datetime | None = None,
    announce: bool = True,
) -> Alert:
    """The metric is still past the bound: record the reading; a spike that has now lasted
    its duration becomes a persistent shift (audited, hook ``failsafe.alert_escalated``;
    ``announce=False``: the caller runs it, once it has acted)."""
    s = monitor_state
    now = now or clock.now()
    with transaction.atomic():
        alert.last_value = s.value
        alert.peak = _peak(alert, s.value)
        alert.inside_since = None
        alert.last_evaluated_at = now
        fields = ["last_value", "peak", "inside_since", "last_evaluated_at"]
        escalated = s.state == SHIFT and alert.shape != Alert.Shape.SHIFT
        if escalated:
            alert.shape = Alert.Shape.SHIFT
            fields.append("shape")
        alert.save(update_fields=fields)
        if escalated:
            audit_record(
                actor=_monitor_actor(alert.monitor),
                verb="failsafe.alert.escalated",
                target=alert,
                before={"shape": Alert.Shape.SPIKE},
                after={"shape": Alert.Shape.SHIFT},
                data={"model": alert.model_id, "value": s.value, "since": _iso(s.since)},
            )
            if announce:
                registry.run_hooks_apart(ALERT_ESCALATED_HOOK, alert=alert)
    return alert


def alert_act(
    *, alert: Alert, monitor_state: MonitorState, metrics: dict[str, Any],
    now: dt.datetime | None = None,
) -> Alert:  # fmt: skip
    """A persistent shift: take the monitor's action once per alert. Contain or halt through
    ``mode_change`` (skipped when the model is already in that mode or a stronger one), then
    queue the shift sample. ``action_taken`` records what was done."""
    s = monitor_state
    now = now or clock.now()
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.action_taken:
            return locked  # another run acted already
        action = s.monitor.get("action", "notify")
        taken = "notify"
        target = ACTION_MODE.get(action)
        if target is not None:
            current = (
                ModelMode.objects.filter(model=alert.model_id)
                .values_list("mode", flat=True)
                .first()
                or Mode.NORMAL
            )
            if STRENGTH[current] >= STRENGTH[target]:
                taken = f"already_{current}"
            else:
                mode_change(
                    model=alert.model,
                    mode=target,
                    reason=_reason(s),
                    user=None,
                    monitor=s.name,
                    rule=_rule_dict(s),
                    alert=locked,
                    metrics=metrics,
                )
                taken = action
        locked.action_taken = taken
        locked.action_at = now
        locked.save(update_fields=["action_taken", "action_at"])
        audit_record(
            actor=_monitor_actor(alert.monitor),
            verb="failsafe.alert.acted",
            target=locked,
            after={"action_taken": taken},
            data={"model": alert.model_id, "action": action, "metrics": metrics},
        )
        size = shift_sample_size(s.monitor)
        if size > 0:
            shift_sample(model=alert.model, alert=locked, size=size, now=now)
    return locked


def alert_announce(*, alert: Alert, hook: str) -> None:
    """Run an alert's opened or escalated hook (notifications, the on-call webhook) in its own
    transaction, after the monitor's action committed: a failing notice never undoes a
    containment (it is logged by the beat run, like any failure of one model's monitors)."""
    registry.run_hooks_apart(hook, alert=alert)


def _reason(s: MonitorState) -> str:
    """The reason shown on every page of the stopped model: read by a lead, so the time is
    "2026-12-01 09:20 UTC", not ISO 8601 with an offset."""
    value = "no value" if s.value is None else f"{s.value:.4g}"
    since = s.since.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if s.since else "?"
    return (
        f"{s.name}: {s.rule.metric} {s.rule.op} {s.rule.bound:g} for "
        f"{s.rule.duration_minutes} min or longer (persistent shift since {since}; now {value})"
    )


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def alert_inside(
    *, alert: Alert, monitor_state: MonitorState, now: dt.datetime | None = None
) -> Alert:
    """The metric is back inside its absolute bound: resolve once it has stayed inside for
    the monitor's resolve time (measured on the buckets), else record since when."""
    s = monitor_state
    now = now or clock.now()
    inside_since = s.since
    needed = dt.timedelta(
        minutes=int(alert.rule.get("resolve_minutes") or resolve_minutes(s.monitor))
    )
    if inside_since is not None and s.as_of is not None and s.as_of - inside_since >= needed:
        return alert_resolve(alert=alert, monitor_state=s, now=now)
    alert.inside_since = inside_since
    alert.last_value = s.value
    alert.last_evaluated_at = now
    alert.save(update_fields=["inside_since", "last_value", "last_evaluated_at"])
    return alert


def alert_resolve(
    *, alert: Alert, monitor_state: MonitorState, now: dt.datetime | None = None
) -> Alert:
    """Resolve (from open or acknowledged) through the alert's state machine; hook
    ``failsafe.alert_resolved`` in the transaction."""
    s = monitor_state
    now = now or clock.now()
    with transaction.atomic():
        state.apply(
            ALERT,
            instance=alert,
            event="resolve",
            actor=_monitor_actor(alert.monitor),
            changes={
                "resolved_at": now,
                "inside_since": s.since,
                "last_value": s.value,
                "last_evaluated_at": now,
            },
            data={
                "model": alert.model_id,
                "value": s.value,
                "inside_since": _iso(s.since),
                "resolve_minutes": alert.rule.get("resolve_minutes"),
            },
            now=now,
        )
        registry.run_hooks_apart(ALERT_RESOLVED_HOOK, alert=alert)
    return alert


def alerts_apply(
    *, model: MLModel, states: list[MonitorState], version: int | None,
    alerts: dict[str, Alert], now: dt.datetime | None = None,
) -> None:  # fmt: skip
    """Hand one model's monitor states to the alerts: open, update, act, resolve.
    ``alerts``: the model's unresolved alerts by monitor name."""
    now = now or clock.now()
    metrics = snapshot_of(states)
    for s in states:
        alert = alerts.get(s.name)
        if s.state == NO_DATA:
            continue  # no data neither fires nor resolves
        if s.state == OK:
            if alert is not None:
                alert_inside(alert=alert, monitor_state=s, now=now)
            continue
        # A shift not yet acted on is announced after the action, so what people and on-call
        # tools are told says what the monitor did.
        acting = s.state == SHIFT and (alert is None or not alert.action_taken)
        hook = None
        if alert is None:
            hook = ALERT_OPENED_HOOK
            alert = alert_open(
                model=model, monitor_state=s, version=version, now=now, announce=not acting
            )
        else:
            if s.state == SHIFT and alert.shape != Alert.Shape.SHIFT:
                hook = ALERT_ESCALATED_HOOK
            alert = alert_update(alert=alert, monitor_state=s, now=now, announce=not acting)
        if not acting:
            continue
        try:
            alert = alert_act(alert=alert, monitor_state=s, metrics=metrics, now=now)
        finally:
            # Even when the action failed: the people must hear of the shift.
            if hook is not None:
                alert_announce(alert=alert, hook=hook)

"""Reads about alerts: who may read which, the list with its filters, one alert, its history,
and the one representation the API, the webhook and the pages share.

Who reads alerts (the queue's one visibility rule, ``reviewapp.selectors.visibility``): leads,
engineers and committee members read every model's alerts; a reviewer reads the alerts of
their pools' models (they work those queues, and a contained model changes their day); a
catalog editor with no other role, and every service token, reads none. An alert outside the
reader's models is answered as if it did not exist (404).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.db.models import Case, Count, IntegerField, QuerySet, Value, When
from django.urls import reverse
from django.utils.translation import gettext as _

from reviewapp.core import clock, roles
from reviewapp.core import verbs as core_verbs
from reviewapp.core.models import AuditEvent
from reviewapp.core.selectors import audit_events
from reviewapp.core.time import human_duration, iso_utc
from reviewapp.models import MLModel
from reviewapp.selectors.visibility import is_service, models_visible_to, visible_model_ids

from .models import Alert, ModeChange

READER_ROLES = (roles.LEAD, roles.ENGINEER, roles.COMMITTEE, roles.REVIEWER)
ACKNOWLEDGER_ROLES = (roles.LEAD, roles.ENGINEER)
SEVERITIES = ("S1", "S2", "S3", "S4")
# Open first, then acknowledged, then resolved.
_STATE_RANK = Case(
    When(state=Alert.State.OPEN, then=Value(0)),
    When(state=Alert.State.ACKNOWLEDGED, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)
HISTORY_LIMIT = 200
# Badge colours (always beside the word): UI.md's red = breach / S1, amber = S2 / needs attention.
STATE_TONES = {"open": "red", "acknowledged": "amber", "resolved": "green"}
SEVERITY_TONES = {"S1": "red", "S2": "amber", "S3": "blue", "S4": "grey"}


def may_read_alerts(principal: Any) -> bool:
    """A person with a reading role; never a service token, never an anonymous caller."""
    if is_service(principal) or not getattr(principal, "is_authenticated", False):
        return False
    return roles.has_role(principal, *READER_ROLES)


def may_acknowledge(principal: Any) -> bool:
    return not is_service(principal) and roles.has_role(principal, *ACKNOWLEDGER_ROLES)


def alerts_visible_to(principal: Any) -> QuerySet[Alert]:
    """The alerts the caller may read, with their model and acknowledger loaded."""
    qs = Alert.objects.select_related("model", "acknowledged_by")
    if not may_read_alerts(principal):
        return qs.none()
    visible = visible_model_ids(principal)
    return qs if visible is None else qs.filter(model_id__in=visible)


def alert_list(
    principal: Any,
    *,
    model_id: int | None = None,
    state: str | None = None,
    severity: str | None = None,
) -> QuerySet[Alert]:
    """The caller's alerts: open first, then acknowledged, then resolved; within each the most
    severe first (S1 before S4), then the newest."""
    qs = alerts_visible_to(principal)
    if model_id is not None:
        qs = qs.filter(model_id=model_id)
    if state:
        qs = qs.filter(state=state)
    if severity:
        qs = qs.filter(severity=severity)
    return qs.annotate(state_rank=_STATE_RANK).order_by(
        "state_rank", "severity", "-opened_at", "-id"
    )


def models_with_alerts(principal: Any) -> QuerySet[MLModel]:
    """The models the caller may read that have had an alert (the list's model filter)."""
    if not may_read_alerts(principal):
        return MLModel.objects.none()
    ids = Alert.objects.order_by().values("model_id").distinct()
    return models_visible_to(principal).filter(pk__in=ids).order_by("slug")


def alert_get(principal: Any, alert_id: int) -> Alert | None:
    return alerts_visible_to(principal).filter(pk=alert_id).first()


def alert_counts(qs: QuerySet[Alert], field: str) -> dict[str, int]:
    """How many of ``qs`` per value of ``field`` (state or severity): the filters' counts."""
    rows = qs.order_by().values(field).annotate(n=Count("id"))
    return {row[field]: row["n"] for row in rows}


def open_alert_counts() -> dict[tuple[str, str], int]:
    """Unresolved alerts per (model slug, severity): one grouped query, for /metrics."""
    rows = (
        Alert.objects.exclude(state=Alert.State.RESOLVED)
        .order_by()
        .values("model__slug", "severity")
        .annotate(n=Count("id"))
    )
    return {(row["model__slug"], row["severity"]): row["n"] for row in rows}


# --- what an alert says --------------------------------------------------------------------
def monitor_label(monitor: str) -> str:
    """``uncertain_rate`` → "uncertain rate" (monitor names are snake_case identifiers)."""
    return monitor.replace("_", " ").replace("-", " ").strip() or monitor


def number(value: float | None) -> str:
    """A metric value as a person reads it at a glance: 0.4213 → "0.421", 1250.0 → "1250"."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def bound_text(alert: Alert, value: float | None = None) -> str:
    """The value against the rule's bound, in its direction: "0.42 > 0.15"."""
    rule = alert.rule or {}
    op = str(rule.get("op") or ">")
    bound = rule.get("bound")
    shown = alert.value if value is None else value
    if bound is None:
        return number(shown)
    return f"{number(shown)} {op} {number(bound)}"


def action_text(alert: Alert) -> str:
    """What the monitor did, in words: contained, halted, or notified."""
    if alert.action_taken == "contain":
        return _("model contained")
    if alert.action_taken == "halt":
        return _("model halted")
    return _("notified only")


def alert_duration_seconds(alert: Alert, *, now: dt.datetime | None = None) -> float:
    """How long the episode has lasted: from ``since`` to its resolution (or now)."""
    end = alert.resolved_at or now or clock.now()
    return max(0.0, (end - alert.since).total_seconds())


def alert_link(alert: Alert) -> str:
    return reverse("failsafe:alert", args=[alert.pk])


def alert_representation(alert: Alert, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """An alert as the API answers it and the webhook sends it."""
    rule = alert.rule or {}
    return {
        "id": alert.pk,
        "model": alert.model.slug,
        "monitor": alert.monitor,
        "severity": alert.severity,
        "shape": alert.shape,
        "state": alert.state,
        # The rule is the monitors document's JSON as it was: typed here so the answer keeps
        # its documented shape whatever the document held.
        "metric": str(rule.get("metric") or alert.monitor),
        "op": str(rule["op"]) if rule.get("op") else None,
        "bound": _float_or_none(rule.get("bound")),
        "duration_minutes": _int_or_none(rule.get("duration_minutes")),
        "action": str(rule["action"]) if rule.get("action") else None,
        "value": alert.value,
        "peak": alert.peak,
        "last_value": alert.last_value,
        "since": iso_utc(alert.since),
        "opened_at": iso_utc(alert.opened_at),
        "inside_since": iso_utc(alert.inside_since),
        "action_taken": alert.action_taken or None,
        "action_at": iso_utc(alert.action_at),
        "acknowledged_by": (
            alert.acknowledged_by.get_username() if alert.acknowledged_by_id else None
        ),
        "acknowledged_at": iso_utc(alert.acknowledged_at),
        "acknowledge_note": alert.acknowledge_note,
        "resolved_at": iso_utc(alert.resolved_at),
        "duration_seconds": int(alert_duration_seconds(alert, now=now)),
        "monitors_version": alert.monitors_version,
        "link": alert_link(alert),
    }


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int_or_none(value: Any) -> int | None:
    number = _float_or_none(value)
    return None if number is None else int(number)


def alert_summary(alert: Alert) -> str:
    """One line an on-call person reads in seconds:
    "card-fraud · uncertain rate 0.42 > 0.15 · persistent shift · model contained"."""
    return " · ".join(
        [
            alert.model.slug,
            f"{monitor_label(alert.monitor)} {bound_text(alert)}",
            alert.get_shape_display().lower(),
            action_text(alert),
        ]
    )


# --- history -------------------------------------------------------------------------------
def alert_history(alert: Alert) -> list[AuditEvent]:
    """The alert's audit events, oldest first (opened, acknowledged, resolved, webhook sends)."""
    events = list(
        audit_events(target_type="failsafe.alert", target_id=str(alert.pk))[:HISTORY_LIMIT]
    )
    for event in events:
        event.verb_label = core_verbs.label(event.verb)
    return list(reversed(events))


def alert_mode_changes(alert: Alert) -> list[ModeChange]:
    """The mode switches the alert caused (the monitor's containment or halt)."""
    return list(ModeChange.objects.filter(alert=alert).order_by("created_at", "id"))


def duration_text(seconds: float) -> str:
    return human_duration(seconds)

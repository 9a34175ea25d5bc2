"""Switch a model's operating mode: normal, contained (every prediction reviewed) or halted
(the model's output not used; the producer serves the fallback).

The only writer of the queue's ``ModelMode`` row. Every switch records who or what
authorised it (a person, or a monitor and its rule), why, and the model's monitored metrics
at that moment, in a :class:`ModeChange` row and the audit log, in one transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import clock, registry
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError
from reviewapp.core.roles import LEAD, has_role
from reviewapp.delivery.services import mode_change_enqueue
from reviewapp.models import MLModel, Mode, ModelMode

from ..models import Alert, ModeChange

# Other apps (playbooks: the commander of an open incident on the model) may allow a person
# to contain or halt a model: ``fn(user=, model=, mode=) -> bool``. Only leads lift.
MAY_STOP_HOOK = "failsafe.may_stop_model"
# Called after a switch, in its transaction: ``fn(model=, change=)``. Delivery sends the
# producer a signed ``model.mode_changed`` event; notifications tell the owners and leads.
MODE_CHANGED_HOOK = "failsafe.mode_changed"
# ``fn(model=) -> {monitor: {"value", "bound", "state", ...}}``: the metric values recorded
# with a switch (the monitors module registers it).
METRIC_SNAPSHOT_HOOK = "failsafe.metric_snapshot"
# ``fn(model=) -> [{"name", "state", "value", "bound", "severity"}, ...]``: the state of each of
# the model's monitors, shown by ``GET /api/v1/models/{slug}`` (the monitors module registers
# it; none registered: no monitors).
MONITOR_STATES_HOOK = "failsafe.monitor_states"

MAX_REASON = 2000


def mode_row_of(model: MLModel) -> ModelMode | None:
    """The model's mode row through the one-to-one relation (free when the caller loaded the
    model with ``select_related("mode_row")``), or None: never switched, so normal."""
    try:
        return model.mode_row
    except ModelMode.DoesNotExist:
        return None


def monitor_states(model: MLModel) -> list[dict[str, Any]]:
    states: list[dict[str, Any]] = []
    for found in registry.run_hooks(MONITOR_STATES_HOOK, model=model):
        states.extend(found or ())
    return states


def may_stop(user: Any, model: MLModel, mode: str) -> bool:
    """A lead may switch any model; another person may contain or halt one when an app says
    so (the commander of an open incident on it)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if has_role(user, LEAD):
        return True
    if mode == Mode.NORMAL:
        return False
    return any(registry.run_hooks(MAY_STOP_HOOK, user=user, model=model, mode=mode))


def metric_snapshot(model: MLModel) -> dict[str, Any]:
    snapshot: dict[str, Any] = {}
    for found in registry.run_hooks(METRIC_SNAPSHOT_HOOK, model=model):
        snapshot.update(found or {})
    return snapshot


def _default_review_by(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(hours=settings.FAILSAFE_CONTAINMENT_REVIEW_HOURS)


def mode_change(
    *,
    model: MLModel,
    mode: str,
    reason: str,
    user: Any = None,
    monitor: str = "",
    rule: dict[str, Any] | None = None,
    alert: Alert | None = None,
    review_by: dt.datetime | None = None,
    owner: Any = None,
    sample_rate: float | None = None,
    metrics: dict[str, Any] | None = None,
) -> ModeChange:
    """Switch ``model`` to ``mode``, authorised by ``user`` or, for an automatic switch, by
    ``monitor`` (its ``rule`` and the ``alert`` it raised).

    Refuses (nothing written): an unknown mode or an empty reason (400); a person who may not
    (403); the mode it already has (409); lifting an automatic stop whose alert is not yet
    acknowledged (409).
    """
    errors: dict[str, list[str]] = {}
    if mode not in Mode.values:
        errors["mode"] = [_("Must be one of: %s.") % ", ".join(Mode.values)]
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [_("Say why (a reason is required for every switch).")]
    elif len(reason) > MAX_REASON:
        errors["reason"] = [_("At most %d characters.") % MAX_REASON]
    if sample_rate is not None and not (
        isinstance(sample_rate, int | float) and not isinstance(sample_rate, bool)
        and 0 <= sample_rate <= 1
    ):  # fmt: skip
        errors["sample_rate"] = [_("Must be a number from 0 to 1.")]
    if errors:
        raise ServiceError(next(iter(errors.values()))[0], errors=errors)
    if user is None and not monitor:
        raise ValueError("a mode switch needs a user or a monitor")
    if user is not None and not may_stop(user, model, mode):
        message = (
            _("Only a lead may lift a model's containment.")
            if mode == Mode.NORMAL
            else _("Only a lead or the commander of an open incident on this model may stop it.")
        )
        raise PermissionDenied(message)
    now = clock.now()
    if review_by is not None and review_by <= now:
        raise ServiceError(
            _("The review-by time must be in the future."),
            errors={"review_by": [_("The review-by time must be in the future.")]},
        )
    with transaction.atomic():
        row, _created = ModelMode.objects.select_for_update().get_or_create(model=model)
        before = row.mode
        if before == mode:
            raise Conflict(
                _("%(model)s is already %(mode)s.") % {"model": model.slug, "mode": mode},
                field="mode",
                code="same_mode",
            )
        if before != Mode.NORMAL and row.alert_id is not None and user is not None:
            pending = Alert.objects.filter(pk=row.alert_id, state=Alert.State.OPEN).first()
            if pending is not None:
                raise Conflict(
                    _(
                        "A monitor stopped this model: acknowledge alert #%(id)s "
                        "(%(monitor)s) before changing its mode."
                    )
                    % {"id": pending.pk, "monitor": pending.monitor},
                    field="alert",
                    code="alert_not_acknowledged",
                )
        snapshot = metrics if metrics is not None else metric_snapshot(model)
        if mode == Mode.NORMAL:
            row.owner, row.review_by, row.alert_id, row.sample_rate = None, None, None, 0.0
        else:
            row.owner = owner or (user if user is not None else None)
            row.review_by = review_by or _default_review_by(now)
            if alert is not None:
                row.alert_id = alert.pk
            elif before == Mode.NORMAL:
                row.alert_id = None
            row.sample_rate = (
                sample_rate
                if sample_rate is not None
                else (settings.FAILSAFE_HALTED_SAMPLE_RATE if mode == Mode.HALTED else 0.0)
            )
        row.mode = mode
        row.since = now
        row.reason = reason
        row.set_by = user
        row.set_by_monitor = monitor if user is None else ""
        row.reminded_at = None
        row.save()
        change = ModeChange.objects.create(
            model=model,
            from_mode=before,
            to_mode=mode,
            reason=reason,
            actor=user,
            monitor=monitor if user is None else "",
            rule=rule or {},
            alert=alert,
            metrics=snapshot,
            owner=row.owner,
            review_by=row.review_by,
            sample_rate=row.sample_rate,
            created_at=now,
        )
        actor = Actor.user(user) if user is not None else Actor.system(f"monitor:{monitor}")
        audit_record(
            actor=actor,
            verb="failsafe.model_mode.changed",
            target=model,
            before={"mode": before},
            after={
                "mode": mode,
                "review_by": row.review_by.isoformat() if row.review_by else None,
                "owner": row.owner_id,
                "sample_rate": row.sample_rate,
            },
            data={
                "reason": reason,
                "change": change.pk,
                "monitor": monitor or None,
                "rule": rule or None,
                "alert": alert.pk if alert is not None else None,
                "metrics": snapshot,
            },
        )
        # The producer's event and the notices, each in a savepoint: one that fails is logged
        # and never undoes the switch (a fail-safe must stop the model even then).
        registry.run_hooks_apart(MODE_CHANGED_HOOK, model=model, change=change)
    return change


def producer_event(*, model: MLModel, change: ModeChange) -> None:
    """The ``failsafe.mode_changed`` hook that tells the producer: a signed
    ``model.mode_changed`` event in the delivery outbox, written in the switch's transaction
    (docs/webhooks.md)."""
    mode_change_enqueue(
        model=model,
        mode=change.to_mode,
        previous_mode=change.from_mode,
        since=change.created_at,
        reason=change.reason,
        review_by=change.review_by if change.to_mode != Mode.NORMAL else None,
        by_monitor=change.monitor,
        now=change.created_at,
    )


def mode_extend(*, model: MLModel, user: Any, review_by: dt.datetime, note: str = "") -> ModelMode:
    """Push a containment's review-by time later (its owner or a lead); reminders stop until
    the new time passes."""
    if not may_extend(user, model):
        raise PermissionDenied(_("Only the containment's owner or a lead may extend it."))
    now = clock.now()
    if review_by <= now:
        raise ServiceError(
            _("The review-by time must be in the future."),
            errors={"review_by": [_("The review-by time must be in the future.")]},
        )
    with transaction.atomic():
        row = ModelMode.objects.select_for_update().filter(model=model).first()
        if row is None or row.mode == Mode.NORMAL:
            raise Conflict(_("%s is not contained or halted.") % model.slug, field="mode")
        before = row.review_by
        row.review_by = review_by
        row.reminded_at = None
        row.save(update_fields=["review_by", "reminded_at"])
        audit_record(
            actor=Actor.user(user),
            verb="failsafe.model_mode.extended",
            target=model,
            before={"review_by": before.isoformat() if before else None},
            after={"review_by": review_by.isoformat()},
            data={"note": note.strip()},
        )
    return row


def may_extend(user: Any, model: MLModel) -> bool:
    """A lead, or the containment's owner, may push its review-by time later (the pages show
    the Extend action by the same rule)."""
    if has_role(user, LEAD):
        return True
    return (
        bool(getattr(user, "pk", None))
        and ModelMode.objects.filter(model=model, owner_id=user.pk).exists()
    )

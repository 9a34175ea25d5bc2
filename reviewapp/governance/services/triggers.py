"""Rollback triggers: once a request with triggers is applied, beat evaluates each trigger
(metric, op, bound, duration) on the model's 5-minute metric buckets since the apply; the
first that holds rolls the version back at once (an emergency rollback by the system), once.

The evaluation is the dashboards' threshold rule (``dashboards.rules.evaluate``), reached
through the ``governance.evaluate_trigger`` hook: governance may not import dashboards.
The window of a request's triggers ends when a newer version of its document is applied.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import clock, registry
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict

from ..models import ChangeRequest
from . import documents
from .common import locked
from .rollback import emergency_rollback_as

logger = logging.getLogger(__name__)

EVALUATE_TRIGGER_HOOK = "governance.evaluate_trigger"
TRIGGER_ACTOR = Actor.system("rollback-trigger")


def _still_live(cr: ChangeRequest) -> bool:
    """The request's version is still the active one (its trigger window is open)."""
    active = documents.active_version(model_slug=cr.model_slug, kind=cr.kind)
    return active is not None and active.version == cr.applied_version


def trigger_evaluate(
    cr: ChangeRequest, trigger: dict[str, Any], now: dt.datetime
) -> dict[str, Any] | None:
    """The finding of one trigger of an applied request, or None when nobody evaluates it."""
    for finding in registry.run_hooks(
        EVALUATE_TRIGGER_HOOK,
        model_slug=cr.model_slug,
        metric=trigger["metric"],
        op=trigger["op"],
        bound=trigger["bound"],
        duration_minutes=trigger["duration_minutes"],
        since=cr.applied_at,
        until=now,
    ):
        return finding
    return None


def rollback_triggers_check(*, now: dt.datetime | None = None) -> list[int]:
    """Beat: evaluate the triggers of every applied request whose version is still active and
    whose triggers have not fired; roll back where one holds. Returns the ids of the
    emergency rollbacks made."""
    now = now or clock.now()
    candidates = (
        ChangeRequest.objects.filter(
            status=ChangeRequest.Status.APPLIED,
            triggers_fired_at__isnull=True,
            applied_at__isnull=False,
            applied_version__isnull=False,
        )
        .exclude(rollback_triggers=[])
        .order_by("pk")
    )
    rollbacks = []
    for cr in candidates:
        if not cr.rollback_triggers or not _still_live(cr):
            continue
        for trigger in cr.rollback_triggers:
            finding = trigger_evaluate(cr, trigger, now)
            if finding is not None and finding["breached"]:
                rollback = _fire(cr.pk, trigger, finding, now)
                if rollback is not None:
                    rollbacks.append(rollback)
                break
    return rollbacks


def _describe(trigger: dict[str, Any], finding: dict[str, Any]) -> str:
    values = ", ".join(
        "-" if p["value"] is None else f"{p['value']:.4g}" for p in finding["values"]
    )
    return _(
        "%(metric)s %(op)s %(bound)s for %(minutes)s min (5-minute values: %(values)s; "
        "past the bound since %(since)s UTC)"
    ) % {
        "metric": trigger["metric"],
        "op": trigger["op"],
        "bound": trigger["bound"],
        "minutes": trigger["duration_minutes"],
        "values": values,
        "since": finding.get("since") or "-",
    }


@transaction.atomic
def _fire(
    change_request_id: int, trigger: dict[str, Any], finding: dict[str, Any], now: dt.datetime
) -> int | None:
    """Fire one trigger: stamp the request (so it fires once), audit the values, and roll back
    to the version active before it. Re-checked under the request's lock: a concurrent check
    or a newer version meanwhile does nothing."""
    cr = locked(change_request_id)
    if cr.triggers_fired_at is not None or not _still_live(cr):
        return None
    ChangeRequest.objects.filter(pk=cr.pk).update(triggers_fired_at=now)
    cr.triggers_fired_at = now
    description = _describe(trigger, finding)
    data = {"trigger": dict(trigger), "finding": finding, "source_request": cr.pk}
    previous = documents.previously_active(model_slug=cr.model_slug, kind=cr.kind)
    refused = ""
    rollback = None
    if previous is None:
        refused = _("There is no earlier version to restore.")
    else:
        try:
            with transaction.atomic():
                rollback = emergency_rollback_as(
                    model_slug=cr.model_slug,
                    to_version=previous.version,
                    kind=cr.kind,
                    reason=_("Rollback trigger of change request #%(id)s fired: %(what)s.")
                    % {"id": cr.pk, "what": description},
                    actor=TRIGGER_ACTOR,
                    data=data,
                )
        except Conflict as exc:
            refused = str(exc.message)
    audit_record(
        actor=TRIGGER_ACTOR,
        verb="governance.change_request.trigger_fired",
        target=cr,
        after={"triggers_fired_at": now.isoformat(), "rollback": rollback.pk if rollback else None},
        data={**data, "description": description, "refused": refused},
    )
    if refused:
        logger.warning("Rollback trigger of change request %s fired; no rollback: %s",
                       cr.pk, refused)  # fmt: skip
    return rollback.pk if rollback else None

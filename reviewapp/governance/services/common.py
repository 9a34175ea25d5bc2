"""Helpers shared by the change-request services: loading under lock, checks, validation."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from reviewapp.core import clock, registry
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError

from ..conditions import is_number
from ..models import Approval, ChangeRequest, DocumentKind

METRIC_NAMES_HOOK = "governance.metric_names"
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
TRIGGER_OPS = (">", "<")
MAX_TRIGGERS = 10
MAX_SHADOW_MINUTES = 7 * 24 * 60
EVIDENCE_REQUESTED_HOOK = "governance.evidence_requested"


def locked(change_request_id: int) -> ChangeRequest:
    """The request, locked for this transaction (PostgreSQL; SQLite serialises writers)."""
    cr = ChangeRequest.objects.select_for_update().filter(pk=change_request_id).first()
    if cr is None:
        raise NotFound(_("No such change request."), field="change_request")
    return cr


def require_proposer(cr: ChangeRequest, user: Any) -> None:
    if cr.proposer_id is None or user.pk != cr.proposer_id:
        raise PermissionDenied(_("Only the proposer may do this."))


def touch(cr: ChangeRequest, now: dt.datetime | None = None, **values: Any) -> None:
    """Write plain columns (not the status) and stamp ``updated_at``."""
    values["updated_at"] = now or clock.now()
    ChangeRequest.objects.filter(pk=cr.pk).update(**values)
    for name, value in values.items():
        setattr(cr, name, value)


# What an edit or a rebase resets: the new revision's evidence is computed again.
EVIDENCE_CLEARED: dict[str, Any] = {
    "evidence_hash": "",
    "evidence_summary": {},
    "evidence_state": ChangeRequest.EvidenceState.PENDING,
    "evidence_errors": {},
}


def lapse_votes(cr: ChangeRequest, now: dt.datetime | None = None) -> int:
    return Approval.objects.filter(change_request=cr, lapsed_at__isnull=True).update(
        lapsed_at=now or clock.now()
    )


def request_evidence(cr: ChangeRequest) -> None:
    """Ask the evidence module (whoever registered the hook) to compute evidence, after commit."""
    pk, revision = cr.pk, cr.revision
    transaction.on_commit(
        lambda: registry.run_hooks(EVIDENCE_REQUESTED_HOOK, change_request_id=pk, revision=revision)
    )


def actor_of(user: Any) -> Actor:
    return Actor.user(user)


def check_kind(kind: Any) -> str:
    if kind not in DocumentKind.values:
        raise ServiceError(
            _("Unknown kind."),
            errors={"kind": [_("Must be one of %s.") % ", ".join(DocumentKind.values)]},
        )
    return kind


def validate_options(
    *, rationale: Any = None, scheduled_for: Any = None, rollback_triggers: Any = None,
    shadow_minutes: Any = None, check_rationale: bool = True,
) -> dict[str, list[str]]:  # fmt: skip
    errors: dict[str, list[str]] = {}
    if check_rationale and (not isinstance(rationale, str) or not rationale.strip()):
        errors["rationale"] = [_("Required: say why this change is needed.")]
    if scheduled_for is not None:
        if not isinstance(scheduled_for, dt.datetime) or scheduled_for.tzinfo is None:
            errors["scheduled_for"] = [_("Must be a date and time with its zone.")]
        elif scheduled_for <= clock.now():
            errors["scheduled_for"] = [_("Must be in the future.")]
    if rollback_triggers is not None:
        errors.update(validate_triggers(rollback_triggers))
    if shadow_minutes is not None and (
        isinstance(shadow_minutes, bool)
        or not isinstance(shadow_minutes, int)
        or not 1 <= shadow_minutes <= MAX_SHADOW_MINUTES
    ):
        errors["shadow_minutes"] = [
            _("Must be whole minutes from 1 to %(max)d.") % {"max": MAX_SHADOW_MINUTES}
        ]
    return errors


def validate_triggers(triggers: Any) -> dict[str, list[str]]:
    """Rollback triggers: ``[{"metric", "op", "bound", "duration_minutes"}]``.

    The metric names come from the ``governance.metric_names`` hook (the dashboards app offers
    its 5-minute METRICS): governance's services may not import dashboards (pyproject.toml).
    """
    if not isinstance(triggers, list):
        return {"rollback_triggers": [_("Must be a list.")]}
    if len(triggers) > MAX_TRIGGERS:
        return {"rollback_triggers": [_("At most %d triggers.") % MAX_TRIGGERS]}
    known = {name for names in registry.run_hooks(METRIC_NAMES_HOOK) for name in names}
    errors: dict[str, list[str]] = {}
    for i, trigger in enumerate(triggers):
        at = f"rollback_triggers[{i}]"
        if not isinstance(trigger, dict):
            errors[at] = [_("Must be an object.")]
            continue
        unknown = set(trigger) - {"metric", "op", "bound", "duration_minutes"}
        for key in sorted(unknown):
            errors[f"{at}.{key}"] = [_("Unknown key.")]
        metric = trigger.get("metric")
        if not isinstance(metric, str) or not METRIC_NAME.match(metric):
            errors[f"{at}.metric"] = [_("Required: a metric name.")]
        elif known and metric not in known:
            errors[f"{at}.metric"] = [_("Unknown metric; one of %s.") % ", ".join(sorted(known))]
        if trigger.get("op") not in TRIGGER_OPS:
            errors[f"{at}.op"] = [_("Must be '>' or '<'.")]
        if not is_number(trigger.get("bound")):
            errors[f"{at}.bound"] = [_("Required: a finite number.")]
        minutes = trigger.get("duration_minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 1440:
            errors[f"{at}.duration_minutes"] = [_("Whole minutes from 1 to 1440.")]
    return errors


def raise_if(errors: dict[str, list[str]], message: str | None = None) -> None:
    if errors:
        raise ServiceError(message or _("The change request is not valid."), errors=errors)


def not_stale(cr: ChangeRequest) -> None:
    if cr.stale:
        raise Conflict(
            _(
                "This request is stale: version %(v)s became active (by %(who)s). "
                "The proposer must rebase it."
            )
            % {"v": cr.stale_version, "who": cr.stale_actor or "?"},
            code="stale",
        )


def expiry_cutoff(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=settings.GOVERNANCE_CHANGE_REQUEST_EXPIRY_DAYS)


def next_version_number(versions: Any) -> int:
    """The number the next version of a document gets (``versions``: its versions so far)."""
    return (versions.aggregate(m=Max("version"))["m"] or 0) + 1


def version_make_active(new: Any, versions: Any, now: dt.datetime) -> Any:
    """Make ``new`` the one active version among ``versions`` (locked); returns the version
    that was active before (``new`` itself when it already was)."""
    current = versions.select_for_update().filter(is_active=True).first()
    if current is not None and current.pk == new.pk:
        return current
    if current is not None:
        current.is_active = False
        current.deactivated_at = now
        current.save(update_fields=["is_active", "deactivated_at"])
    new.is_active = True
    new.activated_at = now
    new.deactivated_at = None
    new.save(update_fields=["is_active", "activated_at", "deactivated_at"])
    return current

"""Votes, quorum and apply: at quorum when no time is scheduled, else at the scheduled time
(beat); exactly once, because the request row is locked and the apply transition is a
conditional UPDATE through core's state machine."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import clock, state
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError

from .. import selectors
from ..models import Approval, ChangeRequest
from . import documents, notices
from .common import actor_of, expiry_cutoff, locked, not_stale, touch
from .machine import CHANGE_REQUEST
from .staleness import document_moved

logger = logging.getLogger(__name__)
S = ChangeRequest.Status


@transaction.atomic
def change_request_approve(
    *, change_request_id: int, user: Any, evidence_hash: str, comment: str = "",
    acknowledge_risk: bool = False,
) -> ChangeRequest:  # fmt: skip
    """One committee member's vote on the evidence they saw. At quorum the request is
    approved, and applied at once unless a time is scheduled."""
    cr = locked(change_request_id)
    if not selectors.may_vote(user, cr.model_slug):
        raise PermissionDenied(_("Only the committee (or this model's approver group) votes."))
    if cr.proposer_id == user.pk:
        raise PermissionDenied(_("You cannot approve your own request."))
    if cr.status != S.IN_REVIEW:
        raise Conflict(
            _("This request is %(status)s; only a request in review takes votes.")
            % {"status": cr.get_status_display()},
            code="invalid_state",
        )
    not_stale(cr)
    if not cr.evidence_hash:
        raise Conflict(
            _("The evidence is not ready yet."), field="evidence_hash", code="evidence_pending"
        )
    if evidence_hash != cr.evidence_hash:
        raise Conflict(
            _("The evidence changed since the page loaded: reload and review it again."),
            field="evidence_hash",
            code="evidence_changed",
        )
    summary = cr.evidence_summary or {}
    if summary.get("replay_mismatches"):
        raise Conflict(
            _("The replay of the active version does not match what was recorded."),
            field="evidence_hash",
            code="replay_mismatch",
        )
    if summary.get("calibration_warning") is True and not acknowledge_risk:
        raise ServiceError(
            _("Acknowledge the calibration warning."),
            errors={"acknowledge_risk": [_("Required: the tolerated error rate may be exceeded.")]},
        )
    if Approval.objects.filter(change_request=cr, user=user, lapsed_at__isnull=True).exists():
        raise Conflict(_("You already approved this request."), code="duplicate_vote")
    vote = Approval.objects.create(
        change_request=cr,
        user=user,
        revision=cr.revision,
        evidence_hash=evidence_hash,
        comment=comment.strip(),
        acknowledge_risk=bool(acknowledge_risk),
    )
    touch(cr)
    audit_record(
        actor=actor_of(user),
        verb="governance.change_request.voted",
        target=cr,
        after={"approval": vote.pk, "evidence_hash": evidence_hash, "revision": cr.revision},
        data={"acknowledge_risk": bool(acknowledge_risk), "comment": comment.strip()},
    )
    notices.proposer_told(cr, actor_of(user), "voted", comment.strip())
    reach_quorum_if_due(cr, actor_of(user))
    return cr


def reach_quorum_if_due(cr: ChangeRequest, actor: Actor) -> None:
    """In the caller's transaction, with ``cr`` locked: approve at quorum, then start its
    shadow period, or schedule, or apply."""
    if cr.status != S.IN_REVIEW or cr.stale or not cr.evidence_hash:
        return
    q = selectors.quorum(cr)
    if not q.reached:
        return
    state.apply(
        CHANGE_REQUEST,
        instance=cr,
        event="approve",
        actor=actor,
        data={"approvals": q.approvals, "required": q.required, "reasons": list(q.reasons)},
    )
    if cr.shadow_minutes:
        now = clock.now()
        ends = now + dt.timedelta(minutes=cr.shadow_minutes)
        state.apply(CHANGE_REQUEST, instance=cr, event="shadow", actor=actor, now=now,
                    changes={"shadow_started_at": now, "shadow_ends_at": ends},
                    data={"shadow_ends_at": ends.isoformat()})  # fmt: skip
        return
    schedule_or_apply(cr, actor)


def schedule_or_apply(cr: ChangeRequest, actor: Actor) -> None:
    """An approved request (or one whose shadow period ended): scheduled when its time is
    still ahead, else applied now. ``cr`` is locked by the caller."""
    if cr.scheduled_for is not None and cr.scheduled_for > clock.now():
        state.apply(CHANGE_REQUEST, instance=cr, event="schedule", actor=actor,
                    data={"scheduled_for": cr.scheduled_for.isoformat()})  # fmt: skip
        return
    _apply(cr, actor)


def _apply(
    cr: ChangeRequest, actor: Actor, *, event: str = "apply", created_by: Any = None
) -> None:
    """Create and activate the next version; ``cr`` is locked by the caller."""
    not_stale(cr)
    active = documents.active_version(model_slug=cr.model_slug, kind=cr.kind)
    if (active.version if active else None) != cr.base_version:
        # Activated outside a request (a version made before this one existed): stale now.
        if active is not None:
            document_moved(
                model_slug=cr.model_slug, kind=cr.kind, version=active.version, actor=actor
            )
        raise Conflict(_("The active version moved; the proposer must rebase."), code="stale")
    if event == "apply":
        q = selectors.quorum(cr)
        if not q.reached:
            raise Conflict(
                _("%(n)d of %(r)d approvals: no quorum.") % {"n": q.approvals, "r": q.required},
                code="no_quorum",
            )
    now = clock.now()
    # The transition first: its conditional UPDATE (status and stale as read) makes sure one
    # caller applies; the version is created in the same transaction.
    state.apply(
        CHANGE_REQUEST,
        instance=cr,
        event=event,
        actor=actor,
        expect={"stale": False},
        changes={"applied_at": now},
        now=now,
    )
    version = documents.create_and_activate(
        model_slug=cr.model_slug,
        kind=cr.kind,
        document=cr.document,
        actor=actor,
        change_request=cr,
        created_by=created_by or cr.proposer,
    )
    ChangeRequest.objects.filter(pk=cr.pk).update(applied_version=version.version)
    cr.applied_version = version.version
    if event == "apply":
        # An emergency rollback or a bootstrap (apply_now) tells people its own way.
        notices.involved_told(cr, actor, "applied")


@transaction.atomic
def change_request_apply(*, change_request_id: int, actor: Actor) -> ChangeRequest:
    """Apply an approved or scheduled request now (the beat at its time, or a retry)."""
    cr = locked(change_request_id)
    _apply(cr, actor)
    return cr


@transaction.atomic
def change_request_shadow_end(
    *, change_request_id: int, actor: Actor, now: dt.datetime | None = None
) -> ChangeRequest:
    """The shadow period is over: apply the request, or schedule it when its time is later.
    Refused (409) while stale, before the period ends, or when it left the shadow state."""
    cr = locked(change_request_id)
    if cr.status != S.SHADOW:
        raise Conflict(_("This request is not in its shadow period."), code="invalid_state")
    not_stale(cr)
    if cr.shadow_ends_at is not None and cr.shadow_ends_at > (now or clock.now()):
        raise Conflict(_("The shadow period has not ended yet."), code="invalid_state")
    schedule_or_apply(cr, actor)
    return cr


def change_requests_apply_due(*, now: dt.datetime | None = None) -> list[int]:
    """Beat: end every shadow period that is over (apply, or schedule for later), and apply
    every scheduled request whose time has come; a stale one is suspended (skipped). Each in
    its own transaction; returns the ids applied or scheduled."""
    now = now or clock.now()
    shadow_over = ChangeRequest.objects.filter(
        status=S.SHADOW, stale=False, shadow_ends_at__lte=now
    ).values_list("pk", flat=True)
    done = []
    for pk in list(shadow_over):
        try:
            change_request_shadow_end(change_request_id=pk, actor=Actor.system("beat"), now=now)
        except Conflict as exc:
            logger.info("Shadow period of change request %s not ended: %s", pk, exc.message)
            continue
        done.append(pk)
    due = ChangeRequest.objects.filter(
        status=S.SCHEDULED, stale=False, scheduled_for__lte=now
    ).values_list("pk", flat=True)
    applied = done
    for pk in list(due):
        try:
            change_request_apply(change_request_id=pk, actor=Actor.system("beat"))
        except Conflict as exc:
            logger.info("Scheduled change request %s not applied: %s", pk, exc.message)
            continue
        applied.append(pk)
    return applied


def change_requests_expire(*, now: dt.datetime | None = None) -> list[int]:
    """Beat: open requests untouched for GOVERNANCE_CHANGE_REQUEST_EXPIRY_DAYS expire. A
    scheduled or approved request expires only while stale (otherwise it is about to apply)."""
    now = now or clock.now()
    cutoff = expiry_cutoff(now)
    candidates = ChangeRequest.objects.filter(updated_at__lt=cutoff).filter(
        status__in=[S.DRAFT, S.IN_REVIEW, S.CHANGES_REQUESTED]
    ) | ChangeRequest.objects.filter(
        updated_at__lt=cutoff, stale=True, status__in=[S.APPROVED, S.SHADOW, S.SCHEDULED]
    )
    expired = []
    for cr in candidates:
        try:
            with transaction.atomic():
                state.apply(
                    CHANGE_REQUEST,
                    instance=cr,
                    event="expire",
                    actor=Actor.system("beat"),
                    expect={"updated_at": cr.updated_at},
                    now=now,
                    data={"untouched_since": cr.updated_at.isoformat()},
                )
                notices.involved_told(cr, Actor.system("beat"), "expired")
        except Conflict:
            continue  # touched meanwhile
        expired.append(cr.pk)
    return expired

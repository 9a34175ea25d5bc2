"""Rollbacks (a change request restoring an earlier version), the emergency rollback a lead
applies at once, its ratification, and the bootstrap of a model's first versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from reviewapp.core import clock, state
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.roles import LEAD, has_role

from .. import selectors
from ..hashes import document_hash, evidence_hash
from ..models import ChangeRequest, DocumentKind
from . import documents, notices
from .approvals import _apply
from .change_requests import change_request_create
from .common import actor_of, check_kind, locked, request_evidence, touch
from .machine import CHANGE_REQUEST

S = ChangeRequest.Status


@transaction.atomic
def change_request_rollback_draft(
    *, model_slug: str, to_version: int, user: Any, rationale: str,
    kind: str = DocumentKind.ROUTING_POLICY,
) -> ChangeRequest:  # fmt: skip
    """A draft restoring an earlier version: applied, it writes a new version equal to the
    old one (same hash); history is never rewritten."""
    check_kind(kind)
    old = documents.version_of(model_slug=model_slug, kind=kind, version=to_version)
    if old is None:
        raise NotFound(_("No version %d of this document.") % to_version, field="to_version")
    return change_request_create(
        model_slug=model_slug, kind=kind, user=user, document=old.document, rationale=rationale,
        restores_version=to_version,
    )  # fmt: skip


@transaction.atomic
def emergency_rollback(
    *, model_slug: str, to_version: int, reason: str, user: Any,
    kind: str = DocumentKind.ROUTING_POLICY,
) -> ChangeRequest:  # fmt: skip
    """A lead restores the version active immediately before the current one, at once. One
    committee ratification is due within GOVERNANCE_RATIFICATION_HOURS."""
    if not has_role(user, LEAD):
        raise PermissionDenied(_("Only leads roll back in an emergency."))
    return emergency_rollback_as(
        model_slug=model_slug, to_version=to_version, reason=reason, actor=actor_of(user),
        user=user, kind=kind,
    )  # fmt: skip


def emergency_rollback_as(
    *, model_slug: str, to_version: int, reason: str, actor: Actor, user: Any = None,
    kind: str = DocumentKind.ROUTING_POLICY, data: dict[str, Any] | None = None,
) -> ChangeRequest:  # fmt: skip
    """The emergency rollback itself, in the caller's transaction, by a lead (``user``) or by
    the system (a rollback trigger: ``user`` None, the request has no proposer). ``data``
    goes into the audit event (the metric values that fired a trigger)."""
    check_kind(kind)
    if not isinstance(reason, str) or not reason.strip():
        raise ServiceError(_("Say why."), errors={"reason": [_("Required.")]})
    current = documents.active_version(model_slug=model_slug, kind=kind)
    previous = documents.previously_active(model_slug=model_slug, kind=kind)
    if current is None or previous is None:
        raise Conflict(_("There is no earlier active version to restore."), field="to_version")
    if to_version != previous.version:
        raise Conflict(
            _("Only the previously active version (v%d) can be restored in an emergency.")
            % previous.version,
            field="to_version",
        )
    now = clock.now()
    cr = ChangeRequest.objects.create(
        model_slug=model_slug,
        kind=kind,
        base_version=current.version,
        base_hash=current.hash,
        document=previous.document,
        document_hash=previous.hash,
        rationale=reason.strip(),
        reason=reason.strip(),
        proposer=user,
        restores_version=previous.version,
        is_emergency=True,
        ratification_due=now + dt.timedelta(hours=settings.GOVERNANCE_RATIFICATION_HOURS),
    )
    audit_record(
        actor=actor,
        verb="governance.change_request.rolled_back",
        target=cr,
        before={"active_version": current.version},
        after={"restores_version": previous.version, "document_hash": previous.hash},
        data={"model": model_slug, "kind": kind, "reason": reason.strip(), **(data or {})},
    )
    _apply(cr, actor, event="apply_now", created_by=user)
    # Applied already; the evidence (what restoring the old version does to recent traffic)
    # is for the committee member who ratifies it.
    request_evidence(cr)
    rolled_back = (
        ChangeRequest.objects.filter(
            model_slug=model_slug, kind=kind, applied_version=current.version
        )
        .exclude(pk=cr.pk)
        .first()
    )
    notices.emergency_rollback_told(cr, actor, rolled_back=rolled_back)
    return cr


@transaction.atomic
def change_request_ratify(*, change_request_id: int, user: Any, comment: str = "") -> ChangeRequest:
    """One approver (not the lead who rolled back) ratifies an emergency rollback; a follow-up
    request opened when the 24 h passed is withdrawn."""
    cr = locked(change_request_id)
    if not cr.is_emergency:
        raise Conflict(_("Only an emergency rollback is ratified."), code="invalid_state")
    if not selectors.may_vote(user, cr.model_slug):
        raise PermissionDenied(_("Only the committee (or this model's approver group) ratifies."))
    if cr.proposer_id == user.pk:
        raise PermissionDenied(_("You cannot ratify your own rollback."))
    if cr.ratified_at is not None:
        raise Conflict(_("Already ratified."), code="duplicate_vote")
    now = clock.now()
    touch(cr, now, ratified_at=now, ratified_by=user)
    audit_record(
        actor=actor_of(user),
        verb="governance.change_request.ratified",
        target=cr,
        after={"ratified_at": now.isoformat()},
        data={
            "comment": comment.strip(),
            "late": bool(cr.ratification_due and now > cr.ratification_due),
        },
    )
    if cr.follow_up_id:
        follow_up = locked(cr.follow_up_id)
        if follow_up.is_open:
            state.apply(CHANGE_REQUEST, instance=follow_up, event="withdraw",
                        actor=Actor.system("ratification"),
                        data={"ratified": cr.pk})  # fmt: skip
    return cr


def emergency_ratifications_overdue(*, now: dt.datetime | None = None) -> list[int]:
    """Beat: an emergency rollback unratified past its due time opens a request, in review,
    to revert it (approve to revert; ratifying the rollback withdraws it). Returns their ids."""
    now = now or clock.now()
    overdue = ChangeRequest.objects.filter(
        is_emergency=True, ratified_at__isnull=True, follow_up__isnull=True,
        ratification_due__lte=now,
    ).values_list("pk", flat=True)  # fmt: skip
    opened = []
    for pk in list(overdue):
        with transaction.atomic():
            cr = locked(pk)
            if cr.ratified_at is not None or cr.follow_up_id is not None:
                continue
            follow_up = _open_revert(cr)
            touch(cr, follow_up=follow_up)
            audit_record(
                actor=Actor.system("beat"),
                verb="governance.change_request.ratification_overdue",
                target=cr,
                after={"follow_up": follow_up.pk},
                data={"due": cr.ratification_due.isoformat() if cr.ratification_due else None},
            )
            opened.append(follow_up.pk)
    return opened


def _open_revert(cr: ChangeRequest) -> ChangeRequest:
    reverted = documents.version_of(model_slug=cr.model_slug, kind=cr.kind, version=cr.base_version)
    active = documents.active_version(model_slug=cr.model_slug, kind=cr.kind)
    follow_up = ChangeRequest.objects.create(
        model_slug=cr.model_slug,
        kind=cr.kind,
        base_version=active.version if active else None,
        base_hash=active.hash if active else "",
        document=reverted.document,
        document_hash=reverted.hash,
        rationale=_(
            "Emergency rollback #%(id)s (to v%(to)s) was not ratified in time. Approve this "
            "request to revert to v%(back)s, or ratify the rollback, which withdraws this one."
        )
        % {"id": cr.pk, "to": cr.restores_version, "back": cr.base_version},
        proposer_id=cr.proposer_id,
        restores_version=cr.base_version,
    )
    audit_record(actor=Actor.system("beat"), verb="governance.change_request.created",
                 target=follow_up, data={"ratification_of": cr.pk})  # fmt: skip
    state.apply(CHANGE_REQUEST, instance=follow_up, event="submit", actor=Actor.system("beat"))
    return follow_up


@transaction.atomic
def change_request_bootstrap(
    *, model_slug: str, kind: str, document: dict[str, Any], rationale: str, actor: Actor,
) -> ChangeRequest:  # fmt: skip
    """The system applies a model's first version of a kind (``seed_demo``, installs): a
    change request with no base, applied at once without votes, on the record. Refused once
    the model has any version of that kind: from then on only reviewed requests change it."""
    check_kind(kind)
    if documents.versions(model_slug=model_slug, kind=kind):
        raise Conflict(_("This model already has a version; propose a change request."))
    errors = documents.validate_document(kind=kind, document=document, model_slug=model_slug)
    if errors:
        raise ServiceError(_("The document is not valid."),
                           errors={f"rules.{k}": v for k, v in errors.items()})  # fmt: skip
    cr = ChangeRequest.objects.create(
        model_slug=model_slug, kind=kind, document=document, document_hash=document_hash(document),
        rationale=rationale, proposer=None,
    )  # fmt: skip
    audit_record(actor=actor, verb="governance.change_request.created", target=cr,
                 data={"model": model_slug, "kind": kind, "bootstrap": True})  # fmt: skip
    _apply(cr, actor, event="apply_now")
    # Nothing to replay against (no earlier version): the evidence is the document itself, on
    # the record like a settings change's, so no page waits for a computation that never comes.
    now = clock.now()
    touch(
        cr,
        now,
        evidence_hash=evidence_hash(
            base_hash=None,
            proposed_hash=cr.document_hash,
            window_start=now,
            window_end=now,
            replay_result={"kind": kind, "bootstrap": True},
        ),
        evidence_summary={"bootstrap": True},
        evidence_state=ChangeRequest.EvidenceState.READY,
    )
    return cr


def emergency_ratification_reminders(*, now: dt.datetime | None = None) -> list[int]:
    """Beat: remind the committee of every emergency rollback whose ratification is overdue,
    once per GOVERNANCE_RATIFICATION_REMINDER_HOURS (daily) until it is ratified. Returns the
    ids of the rollbacks reminded about."""
    now = now or clock.now()
    every = dt.timedelta(hours=settings.GOVERNANCE_RATIFICATION_REMINDER_HOURS)
    due = ChangeRequest.objects.filter(
        is_emergency=True, ratified_at__isnull=True, ratification_due__lte=now
    ).filter(
        Q(ratification_reminded_at__isnull=True) | Q(ratification_reminded_at__lte=now - every)
    ).values_list("pk", flat=True)  # fmt: skip
    reminded = []
    for pk in list(due):
        with transaction.atomic():
            cr = locked(pk)
            last = cr.ratification_reminded_at
            if cr.ratified_at is not None or (last is not None and last > now - every):
                continue  # ratified or reminded meanwhile
            ChangeRequest.objects.filter(pk=pk).update(ratification_reminded_at=now)
            cr.ratification_reminded_at = now
            actor = Actor.system("beat")
            audit_record(
                actor=actor,
                verb="governance.change_request.ratification_reminded",
                target=cr,
                before={"ratification_reminded_at": last.isoformat() if last else None},
                after={"ratification_reminded_at": now.isoformat()},
            )
            notices.ratification_overdue_told(cr, actor)
            reminded.append(pk)
    return reminded

"""Change requests: propose, edit, submit, return, reject, withdraw, rebase, comment, and the
evidence the approvers see. Votes and apply are in approvals.py; rollbacks in rollback.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import clock, state
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError
from reviewapp.core.markdown import render_markdown
from reviewapp.core.roles import ENGINEER, LEAD, has_role

from .. import selectors
from ..hashes import document_hash
from ..models import ChangeRequest, ChangeRequestComment, DocumentKind
from . import documents, notices
from .common import (
    EVIDENCE_CLEARED,
    actor_of,
    check_kind,
    lapse_votes,
    locked,
    raise_if,
    request_evidence,
    require_proposer,
    touch,
    validate_options,
)
from .machine import CHANGE_REQUEST

S = ChangeRequest.Status
EDITABLE = {S.DRAFT, S.IN_REVIEW, S.CHANGES_REQUESTED}
UNSET: Any = object()


def _shadow_only_for_routing(kind: str, shadow_minutes: Any) -> None:
    """A shadow period re-decides live routing under the proposal: it exists for routing
    policies only (other kinds have nothing to compare), so asking for one elsewhere is a 400."""
    if shadow_minutes is not None and kind != DocumentKind.ROUTING_POLICY:
        raise ServiceError(
            _("A shadow period is for routing policy changes only."),
            errors={"shadow_minutes": [_("Only a routing policy change has a shadow period.")]},
        )


def _check_document(*, kind: str, document: Any, model_slug: str) -> tuple[str, Any]:
    """(hash, active version) of a valid document that differs from the active version."""
    if not isinstance(document, dict):
        # Named here, not by the validators: theirs would come out as `rules.rules`.
        raise_if({"rules": [_("Must be a JSON object.")]}, _("The document is not valid."))
    errors = documents.validate_document(kind=kind, document=document, model_slug=model_slug)
    raise_if(
        {f"rules.{path}" if path else "rules": problems for path, problems in errors.items()},
        _("The document is not valid."),
    )
    digest = document_hash(document)
    active = documents.active_version(model_slug=model_slug, kind=kind)
    if active is not None and active.hash == digest:
        raise ServiceError(
            _("The proposal equals the active version."),
            errors={
                "rules": [_("Equal to the active version v%d: nothing to change.") % active.version]
            },
        )
    return digest, active


@transaction.atomic
def change_request_create(
    *, model_slug: str, user: Any, document: Any, rationale: str,
    kind: str = "routing_policy", scheduled_for: dt.datetime | None = None,
    rollback_triggers: list[dict[str, Any]] | None = None, shadow_minutes: int | None = None,
    restores_version: int | None = None,
) -> ChangeRequest:  # fmt: skip
    """A draft. Engineers and leads propose; the base is the active version of the kind (None
    for the model's first version: the bootstrap request)."""
    if not has_role(user, ENGINEER, LEAD):
        raise PermissionDenied(_("Only engineers and leads propose changes."))
    check_kind(kind)
    documents.model_info(model_slug)  # 404 naming `model`
    raise_if(
        validate_options(
            rationale=rationale,
            scheduled_for=scheduled_for,
            rollback_triggers=rollback_triggers,
            shadow_minutes=shadow_minutes,
        )
    )
    _shadow_only_for_routing(kind, shadow_minutes)
    digest, active = _check_document(kind=kind, document=document, model_slug=model_slug)
    cr = ChangeRequest.objects.create(
        model_slug=model_slug,
        kind=kind,
        base_version=active.version if active else None,
        base_hash=active.hash if active else "",
        document=document,
        document_hash=digest,
        rationale=rationale.strip(),
        proposer=user,
        scheduled_for=scheduled_for,
        rollback_triggers=rollback_triggers or [],
        shadow_minutes=shadow_minutes,
        restores_version=restores_version,
    )
    audit_record(
        actor=actor_of(user),
        verb="governance.change_request.created",
        target=cr,
        after=_summary(cr),
        data={"model": model_slug, "kind": kind},
    )
    return cr


def _summary(cr: ChangeRequest) -> dict[str, Any]:
    return {
        "status": cr.status,
        "base_version": cr.base_version,
        "document_hash": cr.document_hash,
        "revision": cr.revision,
        "scheduled_for": cr.scheduled_for.isoformat() if cr.scheduled_for else None,
        "restores_version": cr.restores_version,
    }


@transaction.atomic
def change_request_edit(
    *, change_request_id: int, user: Any, document: Any = UNSET, rationale: Any = UNSET,
    scheduled_for: Any = UNSET, rollback_triggers: Any = UNSET, shadow_minutes: Any = UNSET,
) -> ChangeRequest:  # fmt: skip
    """The proposer edits while draft, in review or changes requested. A new document or
    rationale is a new revision: every vote lapses and the evidence is computed again."""
    cr = locked(change_request_id)
    require_proposer(cr, user)
    if cr.status not in EDITABLE:
        raise Conflict(
            _("Only a draft or a request in review can be edited."), code="invalid_state"
        )
    raise_if(
        validate_options(
            rationale=rationale,
            check_rationale=rationale is not UNSET,
            scheduled_for=None if scheduled_for is UNSET else scheduled_for,
            rollback_triggers=None if rollback_triggers is UNSET else rollback_triggers,
            shadow_minutes=None if shadow_minutes is UNSET else shadow_minutes,
        )
    )
    _shadow_only_for_routing(cr.kind, None if shadow_minutes is UNSET else shadow_minutes)
    before = _summary(cr)
    values: dict[str, Any] = {}
    if document is not UNSET:
        digest, _active = _check_document(kind=cr.kind, document=document, model_slug=cr.model_slug)
        if digest != cr.document_hash:
            values.update(document=document, document_hash=digest, **EVIDENCE_CLEARED)
    if rationale is not UNSET and rationale.strip() != cr.rationale:
        values["rationale"] = rationale.strip()
    new_revision = bool(values)
    for name, value in (("scheduled_for", scheduled_for), ("shadow_minutes", shadow_minutes)):
        if value is not UNSET:
            values[name] = value
    if rollback_triggers is not UNSET:
        values["rollback_triggers"] = rollback_triggers or []
    if not values:
        return cr
    now = clock.now()
    lapsed = 0
    if new_revision:
        values["revision"] = cr.revision + 1
        lapsed = lapse_votes(cr, now)
    touch(cr, now, **values)
    audit_record(
        actor=actor_of(user),
        verb="governance.change_request.edited",
        target=cr,
        before=before,
        after=_summary(cr),
        data={"fields": sorted(values), "votes_lapsed": lapsed},
    )
    if new_revision and cr.status != S.DRAFT:
        request_evidence(cr)
    return cr


def _transition(cr: ChangeRequest, event: str, user: Any, **data: Any) -> ChangeRequest:
    return state.apply(
        CHANGE_REQUEST, instance=cr, event=event, actor=actor_of(user), data=data or None
    )


@transaction.atomic
def change_request_submit(*, change_request_id: int, user: Any) -> ChangeRequest:
    cr = locked(change_request_id)
    require_proposer(cr, user)
    _transition(cr, "submit", user)
    request_evidence(cr)
    notices.review_requested(cr, actor_of(user))
    return cr


@transaction.atomic
def change_request_resubmit(*, change_request_id: int, user: Any) -> ChangeRequest:
    cr = locked(change_request_id)
    require_proposer(cr, user)
    _transition(cr, "resubmit", user)
    notices.review_requested(cr, actor_of(user), again=True)
    return cr


def _require_voter(cr: ChangeRequest, user: Any) -> None:
    if not selectors.may_vote(user, cr.model_slug):
        raise PermissionDenied(_("Only the committee (or this model's approver group) decides."))
    if cr.proposer_id == user.pk:
        raise PermissionDenied(_("You cannot decide on your own request."))


@transaction.atomic
def change_request_request_changes(
    *, change_request_id: int, user: Any, comment: str = ""
) -> ChangeRequest:
    cr = locked(change_request_id)
    _require_voter(cr, user)
    _transition(cr, "request_changes", user, comment=comment.strip())
    if comment.strip():
        _comment(cr, user, comment, tell=False)
    notices.proposer_told(cr, actor_of(user), "changes_requested", comment.strip())
    return cr


@transaction.atomic
def change_request_reject(*, change_request_id: int, user: Any, comment: str) -> ChangeRequest:
    if not isinstance(comment, str) or not comment.strip():
        raise ServiceError(
            _("Say why."), errors={"comment": [_("Required: say why it is rejected.")]}
        )
    cr = locked(change_request_id)
    _require_voter(cr, user)
    _transition(cr, "reject", user, comment=comment.strip())
    _comment(cr, user, comment, tell=False)
    notices.proposer_told(cr, actor_of(user), "rejected", comment.strip())
    return cr


@transaction.atomic
def change_request_withdraw(*, change_request_id: int, user: Any) -> ChangeRequest:
    cr = locked(change_request_id)
    require_proposer(cr, user)
    if ChangeRequest.objects.filter(follow_up=cr, ratified_at__isnull=True).exists():
        # The revert request of an unratified emergency rollback: withdrawing it would leave
        # the rollback standing unratified. Ratifying the rollback withdraws it.
        raise Conflict(
            _("This request ends when the emergency rollback is ratified or it is decided."),
            code="invalid_state",
        )
    _transition(cr, "withdraw", user)
    return cr


@transaction.atomic
def change_request_rebase(*, change_request_id: int, user: Any) -> ChangeRequest:
    """The proposer moves the request onto the active version: votes lapse, the evidence is
    computed again, an approved or scheduled request goes back to review."""
    cr = locked(change_request_id)
    require_proposer(cr, user)
    if not cr.is_open:
        raise Conflict(_("Only an open request can be rebased."), code="invalid_state")
    active = documents.active_version(model_slug=cr.model_slug, kind=cr.kind)
    if active is not None and active.hash == cr.document_hash:
        raise ServiceError(
            _("The proposal equals the active version."),
            errors={"rules": [_("Equal to the active version: withdraw the request instead.")]},
        )
    now = clock.now()
    before = _summary(cr)
    lapsed = lapse_votes(cr, now)
    values = {
        "base_version": active.version if active else None,
        "base_hash": active.hash if active else "",
        "stale": False,
        "stale_version": None,
        "stale_actor": "",
        "stale_by": None,
        "stale_at": None,
        **EVIDENCE_CLEARED,
    }
    data = {"votes_lapsed": lapsed, "from_base": before["base_version"]}
    if CHANGE_REQUEST.allows("rebase", cr.status):
        state.apply(CHANGE_REQUEST, instance=cr, event="rebase", actor=actor_of(user),
                    changes={**values, "revision": cr.revision + 1}, data=data)  # fmt: skip
    else:
        touch(cr, now, **values, revision=cr.revision + 1)
        audit_record(actor=actor_of(user), verb="governance.change_request.rebased", target=cr,
                     before=before, after=_summary(cr), data=data)  # fmt: skip
    if cr.status != S.DRAFT:
        request_evidence(cr)
    return cr


def _comment(cr: ChangeRequest, user: Any, body: str, *, tell: bool = True) -> ChangeRequestComment:
    """``tell``: the proposer hears of it (a rejection or a request for changes tells them
    once, with its comment, instead)."""
    comment = ChangeRequestComment.objects.create(
        change_request=cr, author=user, body=body.strip(), html=render_markdown(body.strip())
    )
    touch(cr)
    audit_record(
        actor=actor_of(user),
        verb="governance.change_request.commented",
        target=cr,
        data={"comment": comment.pk},
    )
    if tell:
        notices.proposer_told(cr, actor_of(user), "commented", comment.body)
    return comment


@transaction.atomic
def change_request_comment(*, change_request_id: int, user: Any, body: str) -> ChangeRequestComment:
    """Anyone who may propose or decide comments (Markdown, sanitised)."""
    if not isinstance(body, str) or not body.strip():
        raise ServiceError(_("Write something."), errors={"body": [_("Required.")]})
    cr = locked(change_request_id)
    if not (has_role(user, ENGINEER, LEAD) or selectors.may_vote(user, cr.model_slug)):
        raise PermissionDenied(_("Only engineers, leads and approvers comment."))
    return _comment(cr, user, body)


@transaction.atomic
def change_request_evidence_set(
    *, change_request_id: int, revision: int, evidence_hash: str, summary: dict[str, Any],
    actor: Actor,
) -> ChangeRequest:  # fmt: skip
    """Store the current evidence (hash from ``hashes.evidence_hash``, and the summary flags:
    ``reviewed_volume_change``, ``escaping_errors_delta``, ``calibration_warning``,
    ``replay_mismatches``). Evidence of an older revision is refused (409); votes cast on
    other evidence lapse."""
    from .approvals import reach_quorum_if_due

    cr = locked(change_request_id)
    if cr.revision != revision:
        raise Conflict(_("The request changed since this evidence was computed."), code="stale")
    if not (isinstance(evidence_hash, str) and len(evidence_hash) == 64):
        raise ServiceError(_("Bad hash."), errors={"evidence_hash": [_("A sha256 hex digest.")]})
    now = clock.now()
    lapsed = (
        cr.approvals.filter(lapsed_at__isnull=True)
        .exclude(evidence_hash=evidence_hash)
        .update(lapsed_at=now)
    )
    before = {"evidence_hash": cr.evidence_hash}
    touch(cr, now, evidence_hash=evidence_hash, evidence_summary=dict(summary),
          evidence_state=ChangeRequest.EvidenceState.READY, evidence_errors={})  # fmt: skip
    audit_record(
        actor=actor,
        verb="governance.change_request.evidence_recorded",
        target=cr,
        before=before,
        after={"evidence_hash": evidence_hash, "summary": dict(summary)},
        data={"revision": revision, "votes_lapsed": lapsed},
    )
    reach_quorum_if_due(cr, actor)
    return cr

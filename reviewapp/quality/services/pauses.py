"""A lead pauses a reviewer in one pool (with a reason) and resumes them.

The claim skips a paused member's live items (reviewapp/services/review_state.py); pausing also
gives back any item of the model they hold, through the queue's release service, so it returns
to the others at once.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from reviewapp.core import clock, notifications
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, ServiceError
from reviewapp.models import PoolMembership, ReviewItem
from reviewapp.services.claims import review_item_release

from .people_common import REVIEWER_STATE, membership_for_update, require_lead

REASON_MAX = 500


def _snapshot(m: PoolMembership) -> dict[str, Any]:
    return {
        "paused_at": m.paused_at.isoformat() if m.paused_at else None,
        "paused_by": m.paused_by_id,
        "pause_reason": m.pause_reason,
    }


def reviewer_pause(*, model_id: int, user_id: int, reason: str, by: Any) -> PoolMembership:
    require_lead(by)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(
            _("Say why."), errors={"reason": [_("Give the reviewer a reason for the pause.")]}
        )
    if len(reason) > REASON_MAX:
        raise ServiceError(
            _("The reason is too long."),
            errors={"reason": [_("At most %(n)s characters.") % {"n": REASON_MAX}]},
        )
    with transaction.atomic():
        membership = membership_for_update(model_id=model_id, user_id=user_id)
        if membership.paused_at:
            raise Conflict(_("This reviewer is already paused in this pool."), field="user_id")
        before = _snapshot(membership)
        membership.paused_at = clock.now()
        membership.paused_by = by
        membership.pause_reason = reason
        membership.save(update_fields=["paused_at", "paused_by", "pause_reason"])
        held = list(
            ReviewItem.objects.filter(
                model_id=model_id, claimed_by_id=user_id, status=ReviewItem.Status.CLAIMED
            ).values_list("pk", flat=True)
        )
        for item_id in held:
            review_item_release(item_id=item_id, user=by)
        audit_record(
            actor=Actor.user(by),
            verb="quality.reviewer.paused",
            target=membership.model,
            before=before,
            after=_snapshot(membership),
            data={
                "user": membership.user_id,
                "username": membership.user.get_username(),
                "reason": reason,
                "released_items": held,
            },
            subjects={"auth.user": [membership.user_id]},
        )
        notifications.notify(
            recipients=[membership.user_id],
            kind=REVIEWER_STATE,
            title=_("A lead paused your reviewing for %(model)s")
            % {"model": membership.model.slug},
            body=_("%(lead)s: %(reason)s") % {"lead": by.get_username(), "reason": reason},
            link=reverse("queue:list"),
            actor=Actor.user(by),
        )
    return membership


def reviewer_resume(*, model_id: int, user_id: int, by: Any) -> PoolMembership:
    require_lead(by)
    with transaction.atomic():
        membership = membership_for_update(model_id=model_id, user_id=user_id)
        if not membership.paused_at:
            raise Conflict(_("This reviewer is not paused in this pool."), field="user_id")
        before = _snapshot(membership)
        membership.paused_at = None
        membership.paused_by = None
        membership.pause_reason = ""
        membership.save(update_fields=["paused_at", "paused_by", "pause_reason"])
        audit_record(
            actor=Actor.user(by),
            verb="quality.reviewer.resumed",
            target=membership.model,
            before=before,
            after=_snapshot(membership),
            data={"user": membership.user_id, "username": membership.user.get_username()},
            subjects={"auth.user": [membership.user_id]},
        )
        notifications.notify(
            recipients=[membership.user_id],
            kind=REVIEWER_STATE,
            title=_("You may review %(model)s again") % {"model": membership.model.slug},
            link=reverse("queue:list"),
            actor=Actor.user(by),
        )
    return membership

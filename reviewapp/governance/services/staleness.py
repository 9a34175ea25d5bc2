"""A governed document moved: every open request on the older base of that kind goes stale."""

from __future__ import annotations

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record

from ..models import Approval, ChangeRequest
from . import notices


def _user_id(actor: Actor) -> int | None:
    return int(actor.id) if actor.type == "user" and actor.id.isdigit() else None


def document_moved(*, model_slug: str, kind: str, version: int, actor: Actor) -> list[int]:
    """Mark stale the open requests of (model, kind) whose base is not ``version``; lapse their
    votes. A stale scheduled request stays ``scheduled`` but is suspended (never applied while
    stale). Requests of another kind are untouched. Returns the ids made stale."""
    now = clock.now()
    open_requests = ChangeRequest.objects.select_for_update().filter(
        model_slug=model_slug, kind=kind, status__in=ChangeRequest.OPEN, stale=False
    )
    moved = [cr for cr in open_requests if cr.base_version is None or cr.base_version != version]
    for cr in moved:
        ChangeRequest.objects.filter(pk=cr.pk).update(
            stale=True,
            stale_version=version,
            stale_actor=actor.label,
            stale_by_id=_user_id(actor),
            stale_at=now,
            updated_at=now,
        )
        lapsed = Approval.objects.filter(change_request=cr, lapsed_at__isnull=True).update(
            lapsed_at=now
        )
        audit_record(
            actor=actor,
            verb="governance.change_request.marked_stale",
            target=cr,
            before={"stale": False, "base_version": cr.base_version},
            after={"stale": True, "moved_to_version": version},
            data={"model": model_slug, "kind": kind, "votes_lapsed": lapsed, "status": cr.status},
        )
        cr.stale, cr.stale_version = True, version
        notices.involved_told(cr, actor, "stale")
    return [cr.pk for cr in moved]

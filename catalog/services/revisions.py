"""Pending revisions of published entries: the REVISION machine and how an edit opens,
amends or empties one (publishing and rejecting it is the workflow's)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from reviewapp.core import clock, state
from reviewapp.core.audit import audit_record
from reviewapp.core.exceptions import Conflict
from reviewapp.core.state import transition

from ..models import FailureMode, PendingRevision
from .common import Status, actor_for, check_required, normalised, person_for, username_of

# Stewardship bookkeeping, not what a reader of the entry relies on: edits to these apply to a
# published entry at once (docs/catalog.md, "Editing a published entry").
REVISION_EXEMPT = frozenset({"owner", "steward", "review_interval_days", "next_review_on"})

RevisionStatus = PendingRevision.Status

REVISION = state.Machine(
    model=PendingRevision,
    events={
        "publish": transition(
            RevisionStatus.PENDING, RevisionStatus.PUBLISHED, "catalog.revision.published"
        ),
        "reject": transition(
            RevisionStatus.PENDING, RevisionStatus.REJECTED, "catalog.revision.rejected"
        ),
        "withdraw": transition(
            RevisionStatus.PENDING, RevisionStatus.WITHDRAWN, "catalog.revision.withdrawn"
        ),
    },
    match=("version",),
)


def revision_propose(
    *, fm: FailureMode, user: Any, before: dict[str, Any], submitted: dict[str, Any], note: str
) -> PendingRevision | None:
    """Open, amend (its author only) or empty the entry's one pending revision with the
    submitted values of reviewed fields; None when nothing waits for review afterwards."""
    changed = {k: v for k, v in submitted.items() if normalised(v) != normalised(before.get(k))}
    pending = (
        PendingRevision.objects.select_for_update()
        .filter(failure_mode=fm, status=RevisionStatus.PENDING)
        .first()
    )
    person = person_for(user)
    if pending is not None and pending.author_id != getattr(person, "pk", None):
        if not changed:
            return None
        raise Conflict(
            _("A revision by %(name)s is waiting for review. Publish or reject it first.")
            % {"name": username_of(pending.author)},
            field="detail",
        )
    if pending is None:
        if not changed:
            return None
        pending = PendingRevision(
            failure_mode=fm, author=person, base_version=fm.version, base={}, changes={}
        )
    else:
        pending.version += 1
    for key, value in submitted.items():
        if key in changed:
            pending.base.setdefault(key, before.get(key))
            pending.changes[key] = value
        else:  # changed back to what is published: no longer part of the revision
            pending.changes.pop(key, None)
            pending.base.pop(key, None)
    if not pending.changes:
        if pending.pk is not None:
            state.apply(
                REVISION,
                instance=PendingRevision.objects.get(pk=pending.pk),
                event="withdraw",
                actor=actor_for(user),
                changes={"decided_by": person, "decided_at": clock.now()},
                data={"failure_mode_id": fm.pk, "reason": "every change reverted"},
            )
        return None
    check_required({**before, **pending.changes}, Status.PUBLISHED)
    pending.note = (note or pending.note)[:300]
    pending.updated_at = clock.now()
    pending.save()
    audit_record(
        actor=actor_for(user),
        verb="catalog.revision.proposed",
        target=pending,
        before={k: before.get(k) for k in changed},
        after=changed,
        data={"failure_mode": fm.slug, "base_version": pending.base_version},
    )
    return pending

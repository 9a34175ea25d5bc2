"""The review item's state machine: one transition table and one function that applies it.

Every change of ``ReviewItem.status`` anywhere in the code goes through
:func:`item_transition`. It checks the table, applies the change as a conditional UPDATE
(``WHERE id = … AND status = <seen> AND <expectations>``) and checks the row count, so a
concurrent change (another claimer, the lease sweeper, a lead) makes it fail with a clear
409 instead of silently overwriting; it stamps ``updated_at`` and writes the audit event in
the caller's transaction.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict
from reviewapp.models import ReviewItem

S = ReviewItem.Status


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    targets: frozenset[str]
    verb: str


def _t(sources: set[str], targets: set[str], verb: str) -> Transition:
    return Transition(frozenset(sources), frozenset(targets), verb)


TRANSITIONS: dict[str, Transition] = {
    # A reviewer takes the next pending item of their pools.
    "claim": _t({S.PENDING}, {S.CLAIMED}, "review_item.claimed"),
    # A lead takes an escalated item to decide it.
    "take": _t({S.ESCALATED, S.PENDING}, {S.CLAIMED}, "review_item.claimed"),
    # A lead gives an open item to a named reviewer (or moves it from one to another).
    "assign": _t(
        {S.PENDING, S.DEFERRED, S.ESCALATED, S.CLAIMED}, {S.CLAIMED}, "review_item.assigned"
    ),
    # The holder or a lead gives the item back; an escalated item goes back to the leads.
    "release": _t({S.CLAIMED}, {S.PENDING, S.ESCALATED}, "review_item.released"),
    # The lease ran out (beat): same as release, by the system.
    "expire": _t({S.CLAIMED}, {S.PENDING, S.ESCALATED}, "review_item.lease_expired"),
    "decide": _t({S.CLAIMED}, {S.DECIDED}, "review_item.decided"),
    "escalate": _t({S.CLAIMED}, {S.ESCALATED}, "review_item.escalated"),
    # Without a wake-up time the item is back in the queue at once.
    "defer": _t({S.CLAIMED}, {S.PENDING, S.DEFERRED}, "review_item.deferred"),
    "wake": _t({S.DEFERRED}, {S.PENDING}, "review_item.woke"),
    # Undo within the grace period reopens the item to the reviewer who decided.
    "undo": _t(
        {S.DECIDED, S.ESCALATED, S.PENDING, S.DEFERRED}, {S.CLAIMED}, "review_item.reopened"
    ),
}


def _snapshot(item: ReviewItem) -> dict[str, Any]:
    return {
        "status": item.status,
        "claimed_by": item.claimed_by_id,
        "claim_generation": item.claim_generation,
    }


def item_transition(
    *,
    item: ReviewItem,
    event: str,
    actor: Actor,
    to: str | None = None,
    expect: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    conflict_message: str | None = None,
) -> ReviewItem:
    """Apply ``event`` to ``item`` (as last read), or raise Conflict if it moved meanwhile.

    ``expect`` adds conditions to the UPDATE (e.g. ``claimed_by=user``); ``changes`` are the
    other columns to write. The in-memory item is updated to match the row.
    """
    transition = TRANSITIONS[event]
    target = to or next(iter(sorted(transition.targets)))
    if target not in transition.targets:
        raise ValueError(f"{event} cannot lead to {target}")
    if item.status not in transition.sources:
        raise Conflict(
            conflict_message
            or _("This item is %(status)s; it cannot be %(verb)s now.")
            % {"status": item.get_status_display().lower(), "verb": event},
            code="invalid_state",
        )
    now = timezone.now()
    values = {"status": target, "updated_at": now, **(changes or {})}
    before = _snapshot(item)
    # Inside the caller's transaction no savepoint of its own: the Conflict below is raised
    # before anything is written, so the caller may catch it and go on (and claims,
    # decisions and releases save two round trips).
    with nullcontext() if connection.in_atomic_block else transaction.atomic():
        updated = ReviewItem.objects.filter(
            pk=item.pk, status=item.status, claim_generation=item.claim_generation, **(expect or {})
        ).update(**values)
        if updated != 1:
            raise Conflict(
                conflict_message
                or _("This item changed while you were looking at it. Reload to see its state."),
                code="stale",
            )
        for field, value in values.items():
            setattr(item, field, value)
        audit_record(
            actor=actor,
            verb=transition.verb,
            target=item,
            before=before,
            after=_snapshot(item),
            data=data or {},
        )
    return item

"""The queue's state machines: review items and predictions, declared on core's mechanism.

Every change of ``ReviewItem.status`` anywhere in the code goes through
:func:`item_transition` (or the one-statement claim below, held to it by a test), and every
change of ``Prediction.status`` through :data:`PREDICTION` (routing and decisions change
predictions in sets, see :func:`reviewapp.core.state.apply_many`). Core's ``apply`` checks the
table, applies the change as a conditional UPDATE (``WHERE id = … AND status = <seen> AND
claim_generation = <seen> AND <expectations>``) and checks the row count, so a concurrent
change (another claimer, the lease sweeper, a lead) makes it fail with a clear 409 instead of
silently overwriting; it stamps ``updated_at`` and writes the audit event in the caller's
transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _

from reviewapp.core import clock, state
from reviewapp.core.audit import Actor, build_event
from reviewapp.core.exceptions import Conflict
from reviewapp.core.models import AuditEvent
from reviewapp.core.state import Transition, transition
from reviewapp.models import Prediction, ReviewItem

S = ReviewItem.Status
P = Prediction.Status

TRANSITIONS: dict[str, Transition] = {
    # A reviewer takes the next pending item of their pools.
    "claim": transition({S.PENDING}, {S.CLAIMED}, "queue.review_item.claimed"),
    # A lead takes an escalated item to decide it.
    "take": transition({S.ESCALATED, S.PENDING}, {S.CLAIMED}, "queue.review_item.claimed"),
    # A lead gives an open item to a named reviewer (or moves it from one to another).
    "assign": transition(
        {S.PENDING, S.DEFERRED, S.ESCALATED, S.CLAIMED}, {S.CLAIMED}, "queue.review_item.assigned"
    ),
    # The holder or a lead gives the item back; an escalated item goes back to the leads.
    "release": transition({S.CLAIMED}, {S.PENDING, S.ESCALATED}, "queue.review_item.released"),
    # The lease ran out (beat): same as release, by the system.
    "expire": transition({S.CLAIMED}, {S.PENDING, S.ESCALATED}, "queue.review_item.lease_expired"),
    "decide": transition({S.CLAIMED}, {S.DECIDED}, "queue.review_item.decided"),
    "escalate": transition({S.CLAIMED}, {S.ESCALATED}, "queue.review_item.escalated"),
    # Without a wake-up time the item is back in the queue at once, behind the others of its
    # band and not offered to the reviewer who deferred it for a while (services.decisions).
    "defer": transition({S.CLAIMED}, {S.PENDING, S.DEFERRED}, "queue.review_item.deferred"),
    "wake": transition({S.DEFERRED}, {S.PENDING}, "queue.review_item.woken"),
    # Undo within the grace period reopens the item to the reviewer who decided.
    "undo": transition(
        {S.DECIDED, S.ESCALATED, S.PENDING, S.DEFERRED}, {S.CLAIMED}, "queue.review_item.reopened"
    ),
}


# What an item's audit events record before and after a transition: key -> column.
SNAPSHOT_COLUMNS = {
    "status": "status",
    "claimed_by": "claimed_by_id",
    "claim_generation": "claim_generation",
}

REVIEW_ITEM = state.Machine(
    model=ReviewItem,
    events=TRANSITIONS,
    snapshot=SNAPSHOT_COLUMNS,
    # Every claim bumps the generation: a change meant for an earlier claim never lands.
    match=("claim_generation",),
)

# A prediction's status follows its routing and its final decision. Routing and decisions
# change it in sets (core's apply_many) beside the event they already write for the batch
# or the item, so these verbs name what happened when a single change is audited.
PREDICTION = state.Machine(
    model=Prediction,
    events={
        # The router's decision: to the queue, or the model's output stands.
        # A halted model's predictions are answered with the fallback (not routed).
        "route": transition(
            {P.RECEIVED}, {P.IN_REVIEW, P.PASSED, P.FALLBACK}, "queue.prediction.routed"
        ),
        # A final decision (accept or override) on the prediction's routed item. Items of
        # other purposes (samples, rechecks, second reviews) never move the prediction: a
        # passed or halted prediction stays passed or fallback, whatever a sample of it says
        # (the correction travels as its own decision; docs/failsafe.md).
        "decide": transition({P.IN_REVIEW, P.DECIDED}, {P.DECIDED}, "queue.prediction.decided"),
        # The decision was undone within its grace period: the item is open again.
        "reopen": transition({P.DECIDED}, {P.IN_REVIEW}, "queue.prediction.reopened"),
    },
)


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
    if not REVIEW_ITEM.allows(event, item.status):
        raise Conflict(
            conflict_message
            or _("This item is %(status)s; it cannot be %(verb)s now.")
            % {"status": item.get_status_display().lower(), "verb": event},
            code="invalid_state",
        )
    state.apply(
        REVIEW_ITEM,
        instance=item,
        event=event,
        actor=actor,
        to=to,
        expect=expect,
        changes=changes,
        data=data,
        stale_message=conflict_message
        or _("This item changed while you were looking at it. Reload to see its state."),
    )
    return item


# --- The claim in one statement (PostgreSQL) ---------------------------------------------------
def pg_claim_next(
    *,
    user: Any,
    model_ids: Sequence[int],
    order: Sequence[str],
    lease_ends: dt.datetime,
    data: dict[str, Any],
    live_model_ids: Sequence[int] | None = None,
    band: int | None = None,
    reason: str | None = None,
) -> ReviewItem | None:
    """The "claim" transition for the first pending item of ``model_ids`` in ``order``, in one
    statement: pick it (``FOR UPDATE SKIP LOCKED``), write the claim and its audit event.

    ``band`` (a ``queue_band`` number) and ``reason`` (a reason code of the prediction) narrow
    the pick to the filter the reviewer works through; an item ``user`` deferred without a
    time is skipped until its ``deferred_by_until`` (services.claims.not_deferred_by).
    Items served to another reviewer (gold, qualification) and items ``user`` may not review
    (a blind second review of their own decision) are never picked; of the models in
    ``model_ids`` but not in ``live_model_ids`` (default: all of them; a member still
    qualifying) only items served to ``user`` are.

    The same change as ``item_transition(event="claim", …)`` with the columns of
    ``services.claims.claim_changes``, but one round trip instead of four and no ORM
    compilation: "Start reviewing" is the request a reviewer makes hundreds of times a day,
    and this halves its server time. Tests hold the two paths to the same row and event.
    """
    if not model_ids:
        return None
    live = list(model_ids if live_model_ids is None else live_model_ids)
    all_live = set(live) == set(model_ids)
    now = clock.now()
    claim = REVIEW_ITEM["claim"]
    (source,) = claim.sources
    event = build_event(
        actor=Actor.user(user),
        verb=claim.verb,
        target=(ReviewItem._meta.label_lower, ""),
        data=data,
    )
    params = {
        "source": source,
        "target": REVIEW_ITEM.target("claim"),
        "models": model_ids[0] if len(model_ids) == 1 else list(model_ids),
        "live": live,
        "holder": user.pk,
        "now": now,
        "lease_ends": lease_ends,
        "occurred_at": event.occurred_at,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "verb": event.verb,
        "target_type": event.target_type,
        "data": json.dumps(event.data),
        "request_id": event.request_id,
        "band": band,
        "reason": json.dumps([reason]) if reason else None,
    }
    statement = _pg_claim_statement(
        tuple(order), len(model_ids) == 1, band is not None, reason is not None, all_live
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    if row is None:
        return None
    attnames = [f.attname for f in ReviewItem._meta.concrete_fields]
    return ReviewItem.from_db(connection.alias, attnames, row)


def sql_order_by(order: Sequence[str]) -> str:
    """An ORDER BY list for ReviewItem's columns from ORM ordering keys ("-priority", …)."""
    q = connection.ops.quote_name
    return ", ".join(
        q(ReviewItem._meta.get_field(key.lstrip("-")).column)
        + (" DESC" if key.startswith("-") else "")
        for key in order
    )


@functools.cache
def _pg_claim_statement(
    order: tuple[str, ...], one_model: bool, with_band: bool, with_reason: bool, all_live: bool
) -> str:
    """Built once from the models' metadata, so a renamed column cannot be missed here."""
    q = connection.ops.quote_name
    item_fields = ReviewItem._meta.concrete_fields
    returned = ", ".join(f"r.{q(f.column)}" for f in item_fields)

    def column(name: str) -> str:
        return q(ReviewItem._meta.get_field(name).column)

    def snapshot(alias: str) -> str:
        pairs = ", ".join(f"'{key}', {alias}.{q(col)}" for key, col in SNAPSHOT_COLUMNS.items())
        return f"jsonb_build_object({pairs})"

    order_by = sql_order_by(order)
    model_match = "= %(models)s" if one_model else "= ANY(%(models)s)"
    snapshot_columns = ", ".join(q(col) for col in SNAPSHOT_COLUMNS.values())
    event_columns = [
        "occurred_at", "actor_type", "actor_id", "actor_label", "verb", "target_type",
        "target_id", "before", "after", "data", "request_id",
    ]  # fmt: skip
    events = q(AuditEvent._meta.db_table)
    items = q(ReviewItem._meta.db_table)
    predictions = q(Prediction._meta.db_table)
    # Served items (for_reviewer) only to their reviewer; live items only of live pools.
    if all_live:
        scope = f" AND ({column('for_reviewer')} IS NULL OR {column('for_reviewer')} = %(holder)s)"
    else:
        scope = (
            f" AND ({column('for_reviewer')} = %(holder)s"
            f" OR {column('for_reviewer')} IS NULL AND {column('model')} = ANY(%(live)s))"
        )
    scope += f" AND {column('excluded_reviewer')} IS DISTINCT FROM %(holder)s"
    if with_band:
        scope += f" AND {column('queue_band')} = %(band)s"
    if with_reason:
        scope += (
            f" AND EXISTS (SELECT 1 FROM {predictions} AS p"
            f" WHERE p.{q(Prediction._meta.pk.column)} = {items}.{column('prediction')}"
            f" AND p.{q(Prediction._meta.get_field('reason_codes').column)} @> %(reason)s::jsonb)"
        )
    return f"""
        WITH next AS (
            SELECT {column("id")}, {snapshot_columns} FROM {items}
            WHERE {column("status")} = %(source)s AND {column("claimed_by")} IS NULL
              AND {column("model")} {model_match}{scope}
              AND ({column("deferred_by")} IS DISTINCT FROM %(holder)s
                   OR {column("deferred_by_until")} IS NULL
                   OR {column("deferred_by_until")} <= %(now)s)
            ORDER BY {order_by}
            LIMIT 1
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE {items} AS r
            SET {column("status")} = %(target)s,
                {column("updated_at")} = %(now)s,
                {column("claimed_by")} = %(holder)s,
                {column("claimed_at")} = %(now)s,
                {column("claim_expires_at")} = %(lease_ends)s,
                {column("claim_generation")} = next.{column("claim_generation")} + 1,
                {column("assigned_by")} = NULL
            FROM next
            WHERE r.{column("id")} = next.{column("id")}
            RETURNING {returned}, {snapshot("next")} AS before, {snapshot("r")} AS after
        ), logged AS (
            INSERT INTO {events} ({", ".join(q(c) for c in event_columns)})
            SELECT %(occurred_at)s, %(actor_type)s, %(actor_id)s, %(actor_label)s, %(verb)s,
                   %(target_type)s, claimed.{column("id")}::text, claimed.before,
                   claimed.after, %(data)s::jsonb, %(request_id)s
            FROM claimed
        )
        SELECT {", ".join(q(f.column) for f in item_fields)} FROM claimed
    """

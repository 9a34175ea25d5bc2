"""The outbox: the DELIVERY state machine, and filling it from final decisions, SLA breaches
and model events.

A final decision becomes an outbox row in a beat task that finds it by data (no signal, no call
from the queue), and a row leaves ``pending`` only through ``delivery_transition``. A model
event (its operating mode changed) is written by :func:`mode_change_enqueue`, called in the
transaction of the switch itself, so the producer hears of every switch that committed and of
none that rolled back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import clock, state
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict
from reviewapp.core.publish import task_publish_on_commit
from reviewapp.core.state import transition
from reviewapp.core.time import iso_utc
from reviewapp.models import Decision, MLModel

from .. import selectors
from ..models import Delivery

SENDER = Actor.system("delivery")

S = Delivery.Status

# The one table of allowed status changes (core's state machine).
DELIVERY = state.Machine(
    model=Delivery,
    events={
        # A failed attempt with time left: the row stays pending with a later attempt time.
        "reschedule": transition(S.PENDING, S.PENDING, "delivery.delivery.rescheduled"),
        "deliver": transition(S.PENDING, S.DELIVERED, "delivery.delivery.delivered"),
        "fail": transition(S.PENDING, S.FAILED, "delivery.delivery.failed"),
        # The receiver answered 410 Gone.
        "stop": transition(S.PENDING, S.STOPPED, "delivery.delivery.stopped"),
        "skip": transition(S.PENDING, S.SKIPPED, "delivery.delivery.skipped"),
        "cancel": transition(S.PENDING, S.CANCELLED, "delivery.delivery.cancelled"),
        # A lead sends it again, by hand.
        "requeue": transition(
            {S.FAILED, S.STOPPED, S.SKIPPED}, S.PENDING, "delivery.delivery.requeued"
        ),
    },
    snapshot={"status": "status", "attempts": "attempts"},
)

# The sender's outcome -> its event.
SENT_EVENTS = {
    S.PENDING: "reschedule",
    S.DELIVERED: "deliver",
    S.FAILED: "fail",
    S.STOPPED: "stop",
    S.SKIPPED: "skip",
    S.CANCELLED: "cancel",
}

RETRYABLE_BY_HAND = DELIVERY["requeue"].sources


def max_age() -> dt.timedelta:
    return dt.timedelta(hours=settings.WEBHOOK_MAX_AGE_HOURS)


def delivery_transition(
    *,
    delivery: Delivery,
    event: str,
    actor: Actor,
    now: dt.datetime,
    fields: dict[str, Any] | None = None,
    claim_token: uuid.UUID | None = None,
    data: dict | None = None,
) -> bool:
    """Apply one event of ``DELIVERY`` if the row is still as the caller saw it, audited.

    Conditional on the status (and on the claim token when a sender holds the row), so a
    sender whose lease ran out, or a lead's retry racing a sender, cannot overwrite a newer
    state. Returns False if the row moved on meanwhile. Call inside the caller's transaction.
    """
    if not DELIVERY.allows(event, delivery.status):
        raise Conflict(
            _("A %(before)s delivery cannot become %(to)s.")
            % {"before": delivery.status, "to": DELIVERY.target(event)},
            field="status",
        )
    try:
        state.apply(
            DELIVERY,
            instance=delivery,
            event=event,
            actor=actor,
            now=now,
            expect={"claim_token": claim_token} if claim_token is not None else None,
            changes=fields,
            data={"item_id": delivery.item_id, "event_type": delivery.event_type, **(data or {})},
            field="status",
        )
    except Conflict as exc:
        if exc.code == "stale":
            return False  # nothing was written: the newer state stands
        raise
    return True


# --- Filling the outbox ---------------------------------------------------------------------
def _new_row(
    *,
    kind: str,
    model: MLModel,
    item_id: int | None,
    decision: Decision | None,
    now: dt.datetime,
    token: uuid.UUID,
    build: Any,
) -> Delivery:
    message_id = Delivery.new_message_id()
    has_url = bool(model.callback_url)
    return Delivery(
        message_id=message_id,
        kind=kind,
        event_type=Delivery.EVENT_TYPES[kind],
        model=model,
        item_id=item_id,
        decision=decision,
        payload=build(message_id),
        status=S.PENDING if has_url else S.SKIPPED,
        next_attempt_at=now if has_url else None,
        retry_until=now + max_age(),
        last_error="" if has_url else _("The model has no callback URL; producers read the feed."),
        finished_at=None if has_url else now,
        created_at=now,
        updated_at=now,
        fill_token=token,
    )


def _audit_fill(*, token: uuid.UUID, rows: list[tuple[int, str, int]], kind: str) -> None:
    """One event per fill; ``items`` runs beside ``deliveries`` (the n-th item is the n-th
    delivery's), so an item's history can follow its deliveries' own events."""
    deliveries = [pk for pk, _status, _item in rows]
    items = [item_id for _pk, _status, item_id in rows]
    audit_record(
        actor=SENDER,
        verb="delivery.delivery.enqueued",
        target=("delivery.fill", token),
        data={
            "kind": kind,
            "deliveries": deliveries,
            "items": items,
            "skipped": sum(1 for _pk, status, _item in rows if status == S.SKIPPED),
            "cancelled": sum(1 for _pk, status, _item in rows if status == S.CANCELLED),
        },
        subjects={Delivery._meta.label_lower: deliveries, "reviewapp.reviewitem": items},
    )


def _enqueue_decisions_chunk(*, now: dt.datetime, limit: int) -> tuple[int, int]:
    with transaction.atomic():
        decisions = list(selectors.decisions_to_enqueue(now=now)[:limit])
        if not decisions:
            return 0, 0
        token = uuid.uuid4()
        # A routed item's decision is ``decision.made``; an override of a prediction that had
        # passed is ``decision.corrected`` (the selector sends nothing else).
        kinds = {
            d.pk: Delivery.Kind.CORRECTED if selectors.corrects(d) else Delivery.Kind.DECISION
            for d in decisions
        }
        annotations = selectors.label_annotations(decisions)  # labels: one read per batch
        rows = [
            _new_row(
                kind=kinds[d.pk],
                model=d.model,
                item_id=d.item_id,
                decision=d,
                now=now,
                token=token,
                build=lambda mid, d=d: selectors.decision_payload(
                    d, message_id=mid, now=now, annotations=annotations[d.pk]
                ),
            )
            for d in decisions
        ]
        # A concurrent fill may insert the same decisions: the unique constraint keeps one row
        # and ON CONFLICT DO NOTHING drops ours; the token tells us which rows are ours.
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        inserted = list(
            Delivery.objects.filter(
                decision_id__in=[d.pk for d in decisions], fill_token=token
            ).values_list("id", "status", "item_id", "kind")
        )
        for kind in Delivery.Kind.DECISION, Delivery.Kind.CORRECTED:
            if of_kind := [row[:3] for row in inserted if row[3] == kind]:
                _audit_fill(token=token, rows=of_kind, kind=kind)
    return len(decisions), len(inserted)


def _enqueue_timeouts_chunk(*, now: dt.datetime, limit: int) -> tuple[int, int]:
    with transaction.atomic():
        items = list(selectors.items_timed_out_to_enqueue()[:limit])
        if not items:
            return 0, 0
        decided = set(
            Decision.objects.filter(
                item_id__in=[i.pk for i in items],
                action__in=Decision.FINAL_ACTIONS,
                undone_at__isnull=True,
            ).values_list("item_id", flat=True)
        )
        token = uuid.uuid4()
        rows = []
        for item in items:
            row = _new_row(
                kind=Delivery.Kind.TIMED_OUT,
                model=item.model,
                item_id=item.pk,
                decision=None,
                now=now,
                token=token,
                build=lambda mid, i=item: selectors.timed_out_payload(i, message_id=mid, now=now),
            )
            if item.pk in decided:
                # Telling the producer to fall back after a human already decided would only
                # confuse it; the row stays visible in the log.
                row.status = S.CANCELLED
                row.next_attempt_at = None
                row.finished_at = now
                row.last_error = _("The item was decided before the time-out notice went out.")
            rows.append(row)
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        inserted = list(
            Delivery.objects.filter(
                item_id__in=[i.pk for i in items],
                kind=Delivery.Kind.TIMED_OUT,
                fill_token=token,
            ).values_list("id", "status", "item_id")
        )
        if inserted:
            _audit_fill(token=token, rows=inserted, kind=Delivery.Kind.TIMED_OUT)
    return len(items), len(inserted)


@dataclass
class FillReport:
    decisions: int = 0
    timed_out: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.decisions + self.timed_out


def deliveries_enqueue(
    *, now: dt.datetime | None = None, batch_size: int | None = None, max_batches: int = 20
) -> FillReport:
    """Put released decisions the producer hears of (routed items' decisions, corrections) and
    routed items' SLA breaches into the outbox. Idempotent."""
    now = now or clock.now()
    limit = batch_size or settings.WEBHOOK_FILL_BATCH
    report = FillReport()
    for chunk, attr in (
        (_enqueue_decisions_chunk, "decisions"),
        (_enqueue_timeouts_chunk, "timed_out"),
    ):
        for _batch in range(max_batches):
            seen, inserted = chunk(now=now, limit=limit)
            setattr(report, attr, getattr(report, attr) + inserted)
            if seen < limit:
                break
    if report.total:
        report.pending = Delivery.objects.filter(status=S.PENDING, next_attempt_at__lte=now).count()
    return report


# --- Model events ---------------------------------------------------------------------------
SEND_TASK_NAME = "failsafe.delivery_send"


def mode_change_enqueue(
    *,
    model: MLModel,
    mode: str,
    previous_mode: str,
    since: dt.datetime,
    reason: str,
    review_by: dt.datetime | None,
    by_monitor: str = "",
    now: dt.datetime | None = None,
) -> Delivery:
    """Put a ``model.mode_changed`` event for ``model``'s producer into the outbox, in the
    caller's transaction (the mode switch's), signed and retried like a decision.

    The payload says what the producer must do (``contained``: use the fallback until a human
    decides; ``halted``: serve the fallback) and who switched it only as "a person" or the
    monitor's name: no person's name goes to a producer for a switch.
    """
    now = now or clock.now()
    token = uuid.uuid4()

    def build(message_id: str) -> dict[str, Any]:
        return {
            "type": Delivery.EVENT_TYPES[Delivery.Kind.MODE_CHANGED],
            "timestamp": iso_utc(now),
            "data": {
                "delivery_id": message_id,
                "model": model.slug,
                "mode": mode,
                "previous_mode": previous_mode,
                "since": iso_utc(since),
                "reason": reason,
                "review_by": iso_utc(review_by),
                "changed_by": "monitor" if by_monitor else "person",
                "monitor": by_monitor or None,
            },
        }

    with transaction.atomic():
        row = _new_row(
            kind=Delivery.Kind.MODE_CHANGED,
            model=model,
            item_id=None,
            decision=None,
            now=now,
            token=token,
            build=build,
        )
        row.save(force_insert=True)
        audit_record(
            actor=SENDER,
            verb="delivery.delivery.enqueued",
            target=row,
            data={
                "kind": row.kind,
                "deliveries": [row.pk],
                "items": [],
                "skipped": int(row.status == S.SKIPPED),
                "cancelled": 0,
            },
        )
        if row.status == S.PENDING:
            # Sent at once after commit rather than on the next beat tick.
            task_publish_on_commit(SEND_TASK_NAME)
    return row

"""An item's history: its decisions and every audit event about it."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Q

from reviewapp.core import verbs
from reviewapp.core.models import AuditEvent, AuditSubject
from reviewapp.models import (
    Decision,
    Prediction,
    ReviewItem,
)

S = ReviewItem.Status
ITEM = ReviewItem._meta.label_lower
PREDICTION = Prediction._meta.label_lower
DECISION = Decision._meta.label_lower
# The delivery app builds on the queue, so the queue never imports it: its rows are found by
# the target type their audit events carry.
DELIVERY = "delivery.delivery"
DELIVERY_ENQUEUED = "delivery.delivery.enqueued"
# An item gathers a few dozen events in a long life; this only bounds a pathological one.
HISTORY_LIMIT = 500
# The events a reviewer's history of an item keeps (``own_only``).
QUEUE_VERBS = ("queue.review_item.", "queue.decision.")


def item_decisions(item_id: int) -> list[Decision]:
    return list(
        Decision.objects.filter(item_id=item_id)
        .select_related("reviewer", "guideline_version")
        .order_by("decided_at", "id")
    )


# --- history from the audit log --------------------------------------------------------------
def item_history(
    item: ReviewItem, *, decisions: Sequence[Decision] | None = None, own_only: bool = False
) -> list[AuditEvent]:
    """Every audit event about this item, oldest first, in three indexed lookups (four when
    its decisions went into the outbox):

    - events targeting the item, its prediction or its decisions (``audit_target_idx``);
    - batch events naming the item or its prediction as a subject (``audit_subject_idx``):
      its ingest and routing chunks, the SLA sweep that raised its priority, the outbox fill;
    - the status changes of the deliveries that fill created for this item.

    Old and new verb names both appear: each event carries ``canonical_verb`` (the current
    name, for comparisons) and ``label`` from the verb registry. The stored ``verb`` is left
    as recorded.

    ``own_only`` (what a reviewer reads, docs/quality/blind.md): only the queue's events about
    the item itself and its decisions; nothing about the prediction (its ingest, routing,
    other items' decisions), the outbox or other apps, so a blind item's history cannot show
    its source, and a live item's shows the same kind of events.
    """
    if own_only:
        return _own_history(item, decisions)
    named = Q(target_type=ITEM, target_id=str(item.pk)) | Q(
        target_type=PREDICTION, target_id=str(item.prediction_id)
    )
    batch_ids = list(
        AuditSubject.objects.filter(named)
        .order_by("event_id")
        .values_list("event_id", flat=True)[:HISTORY_LIMIT]
    )
    if decisions is None:
        decision_ids = list(Decision.objects.filter(item_id=item.pk).values_list("pk", flat=True))
    else:
        decision_ids = [d.pk for d in decisions]
    condition = named
    if batch_ids:
        condition |= Q(pk__in=batch_ids)
    if decision_ids:
        condition |= Q(target_type=DECISION, target_id__in=[str(pk) for pk in decision_ids])
    events = list(AuditEvent.objects.filter(condition).order_by("id")[:HISTORY_LIMIT])
    deliveries = _deliveries_of(item.pk, events)
    if deliveries:
        events += AuditEvent.objects.filter(target_type=DELIVERY, target_id__in=deliveries)[
            :HISTORY_LIMIT
        ]
    for event in events:
        event.canonical_verb = verbs.canonical(event.verb)
        event.label = verbs.label(event.verb)
    events.sort(key=lambda e: (e.occurred_at, e.pk))
    return events


def _own_history(item: ReviewItem, decisions: Sequence[Decision] | None) -> list[AuditEvent]:
    if decisions is None:
        decision_ids = list(Decision.objects.filter(item_id=item.pk).values_list("pk", flat=True))
    else:
        decision_ids = [d.pk for d in decisions]
    condition = Q(target_type=ITEM, target_id=str(item.pk))
    if decision_ids:
        condition |= Q(target_type=DECISION, target_id__in=[str(pk) for pk in decision_ids])
    events = []
    for event in AuditEvent.objects.filter(condition).order_by("id")[:HISTORY_LIMIT]:
        event.canonical_verb = verbs.canonical(event.verb)
        if not event.canonical_verb.startswith(QUEUE_VERBS):
            continue
        event.label = verbs.label(event.verb)
        events.append(event)
    events.sort(key=lambda e: (e.occurred_at, e.pk))
    return events


def _deliveries_of(item_id: int, events: list[AuditEvent]) -> list[str]:
    """The item's delivery ids, read from the outbox fills that named it (``items`` runs
    beside ``deliveries`` in their data)."""
    found: list[str] = []
    for event in events:
        if verbs.canonical(event.verb) != DELIVERY_ENQUEUED:
            continue
        data = event.data or {}
        # Fills recorded before ``items`` existed name no items, and are not found here.
        pairs = zip(data.get("deliveries") or [], data.get("items") or [], strict=False)
        found += [str(delivery) for delivery, item in pairs if item == item_id]
    return found

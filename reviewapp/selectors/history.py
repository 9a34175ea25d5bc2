"""An item's history: its decisions and every audit event about it."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from reviewapp.core.models import AuditEvent
from reviewapp.models import (
    Decision,
    ReviewItem,
)

S = ReviewItem.Status


def item_decisions(item_id: int) -> list[Decision]:
    return list(
        Decision.objects.filter(item_id=item_id)
        .select_related("reviewer", "guideline_version")
        .order_by("decided_at", "id")
    )


# --- history from the audit log --------------------------------------------------------------
def item_history(item: ReviewItem) -> list[AuditEvent]:
    """Every audit event about this item: its own, its prediction's and its decisions', plus
    the ingest and routing events whose batch names the prediction."""
    prediction = item.prediction
    decision_ids = [
        str(pk) for pk in Decision.objects.filter(item_id=item.pk).values_list("pk", flat=True)
    ]
    q = (
        Q(target_type="reviewapp.reviewitem", target_id=str(item.pk))
        | Q(target_type="reviewapp.prediction", target_id=str(prediction.pk))
        | Q(target_type="reviewapp.decision", target_id__in=decision_ids)
    )
    events = list(AuditEvent.objects.filter(q).order_by("id")[:500])
    # Ingest and routing write one event per batch; find the batch by time, then by id list.
    moments = [t for t in (prediction.received_at, prediction.routed_at) if t]
    if moments:
        window = dt.timedelta(seconds=30)
        batch = AuditEvent.objects.filter(
            verb__in=["queue.prediction.ingested", "queue.prediction.routed"],
            occurred_at__gte=min(moments) - window,
            occurred_at__lte=max(moments) + window,
        ).order_by("id")[:200]
        seen = {e.pk for e in events}
        for event in batch:
            ids = (event.data or {}).get("ids") or []
            ids = (
                ids
                + ((event.data or {}).get("to_review") or [])
                + ((event.data or {}).get("passed") or [])
            )
            if prediction.pk in ids and event.pk not in seen:
                events.append(event)
    # Bulk SLA events name their items in data.
    events.sort(key=lambda e: (e.occurred_at, e.pk))
    return events

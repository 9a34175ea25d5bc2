"""Shadow outcomes: what a request in its shadow period would have decided, recorded beside
each prediction live routing routes (the routing side is ``governance/shadow.py``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record

from ..models import ChangeRequest, ShadowOutcome

SHADOW_ACTOR = Actor.system("router")


@dataclass(frozen=True)
class ShadowRow:
    change_request_id: int
    prediction_id: int
    routed: bool
    reasons: tuple[str, ...]
    recorded_routed: bool


@transaction.atomic
def shadow_outcomes_record(*, rows: list[ShadowRow], now: dt.datetime | None = None) -> int:
    """Store the outcomes of one routed chunk, once per (request, prediction): offered again,
    a row is not added twice. Rows of a request that left its shadow period or went stale since the
    caller looked it up are dropped (the caller's lookup may be a few seconds old). One audit
    event per request and chunk, naming the request; returns how many rows it offered."""
    if not rows:
        return 0
    now = now or clock.now()
    wanted = {r.change_request_id for r in rows}
    live = set(
        ChangeRequest.objects.filter(
            pk__in=wanted, status=ChangeRequest.Status.SHADOW, stale=False
        ).values_list("pk", flat=True)
    )
    by_request: dict[int, list[ShadowRow]] = defaultdict(list)
    for row in rows:
        if row.change_request_id in live:
            by_request[row.change_request_id].append(row)
    stored = 0
    for cr_id, new in sorted(by_request.items()):
        # Routing routes each prediction once, so a chunk is normally new; the unique
        # constraint (ignore_conflicts) keeps a replayed one from adding rows twice.
        ShadowOutcome.objects.bulk_create(
            [
                ShadowOutcome(
                    change_request_id=cr_id,
                    prediction_id=r.prediction_id,
                    routed=r.routed,
                    reasons=list(r.reasons),
                    recorded_routed=r.recorded_routed,
                    created_at=now,
                )
                for r in new
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        stored += len(new)
        ids = [r.prediction_id for r in new]
        audit_record(
            actor=SHADOW_ACTOR,
            verb="governance.shadow_outcome.recorded",
            target=("governance.changerequest", cr_id),
            data={
                "predictions": f"{min(ids)}..{max(ids)}",
                "count": len(new),
                "agreed": sum(r.routed == r.recorded_routed for r in new),
                "would_route": sum(r.routed for r in new),
            },
        )
    return stored

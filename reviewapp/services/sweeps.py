"""The review queue's beat sweeps: expired leases, deferred items waking, SLA, queue counts."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Least

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record, audit_record_many, build_event
from reviewapp.core.exceptions import Conflict
from reviewapp.governance.models import PolicyVersion
from reviewapp.governance.rules import DEFAULT_ESCALATION, Escalation
from reviewapp.models import (
    OPEN_STATUSES,
    QueueCountSnapshot,
    ReviewItem,
)

from .claims import RELEASED_CLAIM, release_target
from .review_state import item_transition

logger = logging.getLogger(__name__)
S = ReviewItem.Status
SYSTEM = Actor.system("review-queue")


# --- beat sweeps ----------------------------------------------------------------------------
def review_leases_expire(*, limit: int = 500) -> int:
    """Return items whose lease ran out to the queue (escalated ones to the leads)."""
    now = clock.now()
    expired = list(
        ReviewItem.objects.filter(status=S.CLAIMED, claim_expires_at__lt=now).order_by(
            "claim_expires_at"
        )[:limit]
    )
    count = 0
    for item in expired:
        try:
            item_transition(
                item=item,
                event="expire",
                to=release_target(item),
                actor=SYSTEM,
                # A renewal that landed after we read the row wins.
                expect={"claim_expires_at__lt": now},
                changes=dict(RELEASED_CLAIM),
                data={"holder": item.claimed_by_id},
            )
            count += 1
        except Conflict:
            continue
    return count


def review_deferred_wake(*, limit: int = 500) -> int:
    now = clock.now()
    due = list(
        ReviewItem.objects.filter(status=S.DEFERRED, wake_at__lte=now).order_by("wake_at")[:limit]
    )
    count = 0
    for item in due:
        try:
            item_transition(item=item, event="wake", actor=SYSTEM, changes={"wake_at": None})
            count += 1
        except Conflict:
            continue
    return count


def _sla_defaults() -> Escalation:
    return Escalation(
        deferrals_before_escalation=DEFAULT_ESCALATION.deferrals_before_escalation,
        sla_near_priority_bump=int(settings.REVIEW_SLA_PRIORITY_BUMP),
        sla_near_seconds=int(settings.REVIEW_SLA_NEAR_SECONDS),
    )


def review_sla_sweep(*, limit: int = 1000) -> dict[str, int]:
    """Raise the priority of open items near their deadline (once) and stamp breaches.

    How near and by how much come from the policy version that routed the item
    (``escalation.sla_near_minutes`` / ``sla_near_priority_bump``), else from the
    REVIEW_SLA_NEAR_SECONDS / REVIEW_SLA_PRIORITY_BUMP settings. Items are swept in groups of
    equal rules: one query and one audit event per group, so without policy overrides this is
    the single query it always was.

    Priority is not a state: it is updated in bulk with one audit event per chunk. A breach is
    audited per item; the delivery worker tells the producer ``timed_out`` and the item stays
    open for the human decision that follows.
    """
    now = clock.now()
    defaults = _sla_defaults()
    overrides = {
        pk: e
        for pk, e in PolicyVersion.objects.escalation_overrides(defaults).items()
        if (e.sla_near_seconds, e.sla_near_priority_bump)
        != (defaults.sla_near_seconds, defaults.sla_near_priority_bump)
    }
    groups: dict[tuple[int, int], list[int]] = {}
    for pk, escalation in overrides.items():
        key = (escalation.sla_near_seconds, escalation.sla_near_priority_bump)
        groups.setdefault(key, []).append(pk)
    near_total = 0
    with transaction.atomic():
        open_items = ReviewItem.objects.filter(
            status__in=OPEN_STATUSES, sla_escalated_at__isnull=True
        )
        sweeps = [
            (
                defaults.sla_near_seconds,
                defaults.sla_near_priority_bump,
                open_items.exclude(prediction__policy_version_id__in=list(overrides))
                if overrides
                else open_items,
            )
        ]
        sweeps += [
            (seconds, bump, open_items.filter(prediction__policy_version_id__in=ids))
            for (seconds, bump), ids in sorted(groups.items())
        ]
        for seconds, bump, candidates in sweeps:
            near = now + dt.timedelta(seconds=seconds)
            near_ids = list(
                candidates.filter(sla_due_at__lte=near)
                .order_by("sla_due_at")
                .values_list("id", flat=True)[:limit]
            )
            if not near_ids:
                continue
            near_total += len(near_ids)
            ReviewItem.objects.filter(id__in=near_ids, sla_escalated_at__isnull=True).update(
                priority=Least(F("priority") + bump, 100), sla_escalated_at=now
            )
            audit_record(
                actor=SYSTEM,
                verb="queue.review_item.sla_warned",
                target=("reviewapp.reviewitem", f"{min(near_ids)}..{max(near_ids)}"),
                data={"ids": near_ids, "priority_bump": bump},
                subjects={"reviewapp.reviewitem": near_ids},
            )
        breached = list(
            ReviewItem.objects.filter(
                status__in=OPEN_STATUSES, sla_breached_at__isnull=True, sla_due_at__lte=now
            )
            .order_by("sla_due_at")
            .values("id", "sla_due_at", "status")[:limit]
        )
        if breached:
            ids = [row["id"] for row in breached]
            ReviewItem.objects.filter(id__in=ids, sla_breached_at__isnull=True).update(
                sla_breached_at=now
            )
            audit_record_many(
                build_event(
                    actor=SYSTEM,
                    verb="queue.review_item.sla_breached",
                    target=("reviewapp.reviewitem", row["id"]),
                    before={"sla_breached_at": None},
                    after={"sla_breached_at": now.isoformat()},
                    data={"sla_due_at": row["sla_due_at"].isoformat(), "status": row["status"]},
                )
                for row in breached
            )
    return {"near": near_total, "breached": len(breached)}


def queue_counts_refresh(*, only_if_due: bool = False) -> QueueCountSnapshot:
    """Recount open items for the queue list's filter counts (beat, every few seconds).

    With ``only_if_due`` (beat's call) a snapshot younger than 100 times the time its count
    took is kept: at a million open items a recount takes ~0.4 s of one core, so it runs
    about every 40 s instead of every 15 s and never takes more than ~1 % of a core. The
    wait is capped at half of REVIEW_COUNTS_STALE_SECONDS, so pages never fall back to
    counting themselves while beat runs.

    Not audited: a derived figure, not a state change.
    """
    import time

    from reviewapp.selectors.queue import count_rows

    now = clock.now()
    if only_if_due:
        current = QueueCountSnapshot.objects.filter(pk=1).first()
        if current is not None:
            wait_ms = min(current.took_ms * 100, int(settings.REVIEW_COUNTS_STALE_SECONDS) * 500)
            if current.computed_at + dt.timedelta(milliseconds=wait_ms) > now:
                return current
    started = time.perf_counter()
    rows = count_rows(now)
    took = int((time.perf_counter() - started) * 1000)
    snapshot, _created = QueueCountSnapshot.objects.update_or_create(
        pk=1, defaults={"rows": rows, "computed_at": now, "took_ms": took}
    )
    return snapshot

"""Fold new predictions, decisions and SLA breaches into the rollups, from the watermark.

The fold reads each source stream in id order (breaches in stamp order) from where the last run
stopped, adds the new rows to the per-bucket counters and the all-time totals, and moves the
watermark, all in one transaction per batch: a run that dies leaves nothing half-counted, and a
second run (concurrent or repeated) starts from the moved watermark, so no row counts twice.

Which rows are ready to fold, and why the fold stops where it does:
* A prediction counts once it is routed (``ingested`` and ``routed``/``passed`` land in the same
  bucket, so the uncertain rate compares like with like). The fold stops at the first prediction
  still waiting to be routed; the ingest sweeper guarantees it gets routed, and the page says
  how far the figures reach.
* Rows younger than ``DASHBOARD_SETTLE_SECONDS`` wait: ids are handed out at INSERT but become
  visible at COMMIT, so a lower id can appear after a higher one; waiting longer than any write
  transaction lasts keeps the id watermark from skipping it.
* A decision counts once its undo grace period (``deliver_after``) has passed; an undone one is
  skipped (it never happened, as far as the figures go).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from reviewapp.core.audit import Actor, audit_record
from reviewapp.models import Decision, Prediction, ReviewItem

from .models import (
    COUNTER_FIELDS,
    TTD_BIN_COUNT,
    TTD_FIELDS,
    ModelRollup,
    ModelTotal,
    ReviewerDay,
    RollupWatermark,
)
from .stats import CALIBRATION_BUCKETS, bucket_floor, calibration_bucket, ttd_bin

logger = logging.getLogger(__name__)
FOLDER = Actor.system("dashboards")
WATERMARK = "main"


@dataclass
class Delta:
    """Increments for one counters row."""

    scalars: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ttd_bins: list[int] = field(default_factory=lambda: [0] * TTD_BIN_COUNT)
    ttd_sum: float = 0.0
    cal_decided: list[int] = field(default_factory=lambda: [0] * CALIBRATION_BUCKETS)
    cal_agreed: list[int] = field(default_factory=lambda: [0] * CALIBRATION_BUCKETS)

    def apply_to(self, row: ModelRollup | ModelTotal, now: dt.datetime) -> None:
        for name, value in self.scalars.items():
            setattr(row, name, getattr(row, name) + value)
        reasons = dict(row.reasons or {})
        for code, value in self.reasons.items():
            reasons[code] = reasons.get(code, 0) + value
        row.reasons = reasons
        row.ttd_bins = _add_lists(row.ttd_bins, self.ttd_bins)
        row.ttd_sum_seconds = (row.ttd_sum_seconds or 0.0) + self.ttd_sum
        row.calibration_decided = _add_lists(row.calibration_decided, self.cal_decided)
        row.calibration_agreed = _add_lists(row.calibration_agreed, self.cal_agreed)
        row.updated_at = now


def _add_lists(current: list[int] | None, extra: list[int]) -> list[int]:
    base = list(current or [])
    base += [0] * (len(extra) - len(base))
    return [a + b for a, b in zip(base, extra, strict=False)] + base[len(extra) :]


@dataclass
class FoldResult:
    predictions: int = 0
    decisions: int = 0
    breaches: int = 0
    batches: int = 0
    caught_up: bool = True

    @property
    def rows(self) -> int:
        return self.predictions + self.decisions + self.breaches


@dataclass
class _Batch:
    buckets: dict[tuple[int, dt.datetime], Delta] = field(default_factory=dict)
    totals: dict[int, Delta] = field(default_factory=dict)
    reviewer_days: dict[tuple[int, int, dt.date], dict[str, int]] = field(default_factory=dict)

    def delta(self, model_id: int, moment: dt.datetime, minutes: int) -> tuple[Delta, Delta]:
        key = (model_id, bucket_floor(moment, minutes))
        return (
            self.buckets.setdefault(key, Delta()),
            self.totals.setdefault(model_id, Delta()),
        )


def bucket_minutes() -> int:
    return max(1, int(getattr(settings, "DASHBOARD_BUCKET_MINUTES", 60)))


def watermark_get() -> RollupWatermark:
    watermark, _ = RollupWatermark.objects.get_or_create(
        name=WATERMARK, defaults={"bucket_minutes": bucket_minutes()}
    )
    return watermark


def rollups_fold(
    *, now: dt.datetime | None = None, batch_size: int = 2000, max_batches: int = 50
) -> FoldResult:
    """Fold everything ready since the watermark, one locked transaction per batch."""
    result = FoldResult()
    watermark_get()  # outside the lock: the row must exist before it can be locked
    for _ in range(max_batches):
        moved = _fold_batch(now=now or timezone.now(), batch_size=batch_size)
        result.batches += 1
        result.predictions += moved.predictions
        result.decisions += moved.decisions
        result.breaches += moved.breaches
        if not moved.caught_up:
            continue
        return result
    result.caught_up = False
    return result


def _fold_batch(*, now: dt.datetime, batch_size: int) -> FoldResult:
    settle = dt.timedelta(seconds=float(getattr(settings, "DASHBOARD_SETTLE_SECONDS", 10)))
    cutoff = now - settle
    with transaction.atomic():
        # Concurrent folds queue here; the one that waited then reads the moved watermark.
        watermark = RollupWatermark.objects.select_for_update().get(name=WATERMARK)
        minutes = watermark.bucket_minutes
        if minutes != bucket_minutes():
            logger.warning(
                "DASHBOARD_BUCKET_MINUTES is %s but the rollups were built with %s; "
                "run `manage.py dashboards_rebuild` to use the new width.",
                bucket_minutes(),
                minutes,
            )
        batch = _Batch()
        result = FoldResult()
        full = False
        n, more = _fold_predictions(watermark, batch, cutoff, minutes, batch_size)
        result.predictions, full = n, full or more
        n, more = _fold_decisions(watermark, batch, cutoff, minutes, batch_size)
        result.decisions, full = n, full or more
        n, more = _fold_breaches(watermark, batch, cutoff, minutes, batch_size)
        result.breaches, full = n, full or more
        result.caught_up = not full
        if result.rows:
            _write(batch, now)
        watermark.folded_at = now
        watermark.save(
            update_fields=[
                "last_prediction_id",
                "last_decision_id",
                "last_breach_at",
                "last_breach_item_id",
                "folded_at",
            ]
        )
        # No audit event per fold: rollups are derived data rebuilt from audited rows, and an
        # event every few seconds would drown the log; `folded_at` records the last run.
    return result


def _fold_predictions(
    watermark: RollupWatermark, batch: _Batch, cutoff: dt.datetime, minutes: int, size: int
) -> tuple[int, bool]:
    rows = list(
        Prediction.objects.filter(id__gt=watermark.last_prediction_id)
        .order_by("id")
        .values_list("id", "model_id", "received_at", "status", "routed", "reason_codes")[
            : size + 1
        ]
    )
    folded = 0
    for pid, model_id, received_at, status, routed, reasons in rows[:size]:
        if status == Prediction.Status.RECEIVED or routed is None or received_at > cutoff:
            return folded, False  # stop at the first row not ready: the watermark is a prefix
        bucket, total = batch.delta(model_id, received_at, minutes)
        for delta in (bucket, total):
            delta.scalars["ingested"] += 1
            delta.scalars["routed" if routed else "passed"] += 1
            if routed:
                for code in reasons or []:
                    delta.reasons[str(code)] += 1
        watermark.last_prediction_id = pid
        folded += 1
    return folded, len(rows) > size


def _fold_decisions(
    watermark: RollupWatermark, batch: _Batch, cutoff: dt.datetime, minutes: int, size: int
) -> tuple[int, bool]:
    rows = list(
        Decision.objects.filter(id__gt=watermark.last_decision_id)
        .order_by("id")
        .values_list(
            "id",
            "model_id",
            "reviewer_id",
            "action",
            "model_confidence",
            "decided_at",
            "deliver_after",
            "undone_at",
            "prediction__received_at",
        )[: size + 1]
    )
    folded = 0
    for row in rows[:size]:
        (
            did,
            model_id,
            reviewer_id,
            action,
            confidence,
            decided_at,
            deliver_after,
            undone_at,
            received_at,
        ) = row
        settled_at = max(decided_at, deliver_after or decided_at)
        if settled_at > cutoff:
            return folded, False
        watermark.last_decision_id = did
        folded += 1
        if undone_at is not None:
            continue
        _count_decision(
            batch,
            minutes,
            model_id=model_id,
            reviewer_id=reviewer_id,
            action=action,
            confidence=confidence,
            decided_at=decided_at,
            received_at=received_at,
        )
    return folded, len(rows) > size


def _count_decision(
    batch: _Batch,
    minutes: int,
    *,
    model_id: int,
    reviewer_id: int,
    action: str,
    confidence: float,
    decided_at: dt.datetime,
    received_at: dt.datetime,
) -> None:
    bucket, total = batch.delta(model_id, decided_at, minutes)
    day_key = (model_id, reviewer_id, decided_at.astimezone(dt.UTC).date())
    day = batch.reviewer_days.setdefault(day_key, defaultdict(int))
    final = action in (Decision.Action.ACCEPT, Decision.Action.OVERRIDE)
    counter = {
        Decision.Action.ACCEPT: "accepted",
        Decision.Action.OVERRIDE: "overridden",
        Decision.Action.ESCALATE: "escalated",
        Decision.Action.DEFER: "deferred",
    }.get(action)
    if counter is None:
        return
    day[counter] += 1
    if final:
        day["decided"] += 1
    seconds = max(0.0, (decided_at - received_at).total_seconds())
    cal = calibration_bucket(confidence)
    for delta in (bucket, total):
        delta.scalars[counter] += 1
        if final:
            delta.scalars["decided"] += 1
            delta.ttd_bins[ttd_bin(seconds)] += 1
            delta.ttd_sum += seconds
            delta.cal_decided[cal] += 1
            if action == Decision.Action.ACCEPT:
                delta.cal_agreed[cal] += 1


def _fold_breaches(
    watermark: RollupWatermark, batch: _Batch, cutoff: dt.datetime, minutes: int, size: int
) -> tuple[int, bool]:
    qs = ReviewItem.objects.filter(sla_breached_at__isnull=False, sla_breached_at__lte=cutoff)
    if watermark.last_breach_at is not None:
        qs = qs.filter(
            Q(sla_breached_at__gt=watermark.last_breach_at)
            | Q(sla_breached_at=watermark.last_breach_at, id__gt=watermark.last_breach_item_id)
        )
    rows = list(
        qs.order_by("sla_breached_at", "id").values_list("id", "model_id", "sla_breached_at")[
            : size + 1
        ]
    )
    for item_id, model_id, breached_at in rows[:size]:
        bucket, total = batch.delta(model_id, breached_at, minutes)
        bucket.scalars["sla_breaches"] += 1
        total.scalars["sla_breaches"] += 1
        watermark.last_breach_at = breached_at
        watermark.last_breach_item_id = item_id
    return min(len(rows), size), len(rows) > size


def _write(batch: _Batch, now: dt.datetime) -> None:
    _upsert_rollups(batch.buckets, now)
    _upsert_totals(batch.totals, now)
    _upsert_reviewer_days(batch.reviewer_days)


def _upsert_rollups(deltas: dict[tuple[int, dt.datetime], Delta], now: dt.datetime) -> None:
    if not deltas:
        return
    model_ids = {m for m, _ in deltas}
    starts = {s for _, s in deltas}
    # Only this fold writes rollups and it holds the watermark lock, so read-modify-write is safe.
    existing = {
        (r.model_id, r.bucket_start): r
        for r in ModelRollup.objects.filter(model_id__in=model_ids, bucket_start__in=starts)
    }
    new, changed = [], []
    for (model_id, start), delta in deltas.items():
        row = existing.get((model_id, start))
        if row is None:
            row = ModelRollup(model_id=model_id, bucket_start=start)
            new.append(row)
        else:
            changed.append(row)
        delta.apply_to(row, now)
    ModelRollup.objects.bulk_create(new, batch_size=500)
    ModelRollup.objects.bulk_update(changed, _COUNTER_FIELDS, batch_size=500)


def _upsert_totals(deltas: dict[int, Delta], now: dt.datetime) -> None:
    if not deltas:
        return
    existing = {r.model_id: r for r in ModelTotal.objects.filter(model_id__in=deltas)}
    new, changed = [], []
    for model_id, delta in deltas.items():
        row = existing.get(model_id)
        if row is None:
            row = ModelTotal(model_id=model_id)
            new.append(row)
        else:
            changed.append(row)
        delta.apply_to(row, now)
    ModelTotal.objects.bulk_create(new)
    ModelTotal.objects.bulk_update(changed, _COUNTER_FIELDS)


def _upsert_reviewer_days(deltas: dict[tuple[int, int, dt.date], dict[str, int]]) -> None:
    if not deltas:
        return
    existing = {
        (r.model_id, r.reviewer_id, r.day): r
        for r in ReviewerDay.objects.filter(
            model_id__in={k[0] for k in deltas},
            reviewer_id__in={k[1] for k in deltas},
            day__in={k[2] for k in deltas},
        )
    }
    new, changed = [], []
    for (model_id, reviewer_id, day), counts in deltas.items():
        row = existing.get((model_id, reviewer_id, day))
        if row is None:
            row = ReviewerDay(model_id=model_id, reviewer_id=reviewer_id, day=day)
            new.append(row)
        else:
            changed.append(row)
        for name, value in counts.items():
            setattr(row, name, getattr(row, name) + value)
    ReviewerDay.objects.bulk_create(new, batch_size=500)
    ReviewerDay.objects.bulk_update(
        changed, ["decided", "accepted", "overridden", "escalated", "deferred"], batch_size=500
    )


_COUNTER_FIELDS = [
    *COUNTER_FIELDS,
    "reasons",
    *TTD_FIELDS,
    "ttd_sum_seconds",
    "calibration_decided",
    "calibration_agreed",
    "updated_at",
]


def rollups_rebuild(*, actor: Actor) -> dict[str, Any]:
    """Forget every rollup and start the fold again from the first row.

    For a change of ``DASHBOARD_BUCKET_MINUTES`` (existing rows are aligned to the old width)
    or after restoring raw tables. The next folds re-read the raw tables once, in batches.
    """
    with transaction.atomic():
        watermark = RollupWatermark.objects.select_for_update().filter(name=WATERMARK).first()
        before = None
        if watermark is not None:
            before = {
                "last_prediction_id": watermark.last_prediction_id,
                "last_decision_id": watermark.last_decision_id,
                "bucket_minutes": watermark.bucket_minutes,
            }
        ModelRollup.objects.all().delete()
        ModelTotal.objects.all().delete()
        ReviewerDay.objects.all().delete()
        RollupWatermark.objects.filter(name=WATERMARK).delete()
        fresh = RollupWatermark.objects.create(name=WATERMARK, bucket_minutes=bucket_minutes())
        after = {"bucket_minutes": fresh.bucket_minutes}
        audit_record(
            actor=actor,
            verb="dashboards.rollups.rebuilt",
            target=("dashboards.rollupwatermark", WATERMARK),
            before=before,
            after=after,
        )
    return after

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

Each batch feeds two widths from the same rows: the hourly (``DASHBOARD_BUCKET_MINUTES``)
rollups the pages read, and the 5-minute :class:`MetricBucket` rows automatic rules read (only
for buckets inside ``DASHBOARD_METRICS_RETENTION_DAYS``). The first batch of every run also
samples the open queue per model into the 5-minute bucket of the fold's clock.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from reviewapp.core import clock
from reviewapp.core.audit import Actor
from reviewapp.governance.rules import DATA_ANOMALY, LOW_CONFIDENCE, OOD_ABOVE_LIMIT, QA_SAMPLE
from reviewapp.models import Decision, MLModel, Prediction, RejectedEnvelope, ReviewItem

from ..models import METRIC_BUCKET_MINUTES, RollupWatermark
from ..stats import bucket_floor, calibration_bucket, ttd_bin
from .batch import Batch, counted_items
from .metrics import metrics_retention, open_queue_sample
from .writes import batch_write

logger = logging.getLogger(__name__)

FOLDER = Actor.system("dashboards")

WATERMARK = "main"


@dataclass
class FoldResult:
    predictions: int = 0
    decisions: int = 0
    breaches: int = 0
    rejected: int = 0
    batches: int = 0
    caught_up: bool = True

    @property
    def rows(self) -> int:
        return self.predictions + self.decisions + self.breaches + self.rejected


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
    for i in range(max_batches):
        moved = _fold_batch(now=now or clock.now(), batch_size=batch_size, sample=i == 0)
        result.batches += 1
        result.predictions += moved.predictions
        result.decisions += moved.decisions
        result.breaches += moved.breaches
        result.rejected += moved.rejected
        if not moved.caught_up:
            continue
        return result
    result.caught_up = False
    return result


def _fold_batch(*, now: dt.datetime, batch_size: int, sample: bool = False) -> FoldResult:
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
        batch = Batch(fine_floor=bucket_floor(now - metrics_retention(), METRIC_BUCKET_MINUTES))
        result = FoldResult()
        full = False
        n, more = _fold_predictions(watermark, batch, cutoff, minutes, batch_size)
        result.predictions, full = n, full or more
        n, more = _fold_decisions(watermark, batch, cutoff, minutes, batch_size)
        result.decisions, full = n, full or more
        n, more = _fold_breaches(watermark, batch, cutoff, minutes, batch_size)
        result.breaches, full = n, full or more
        n, more = _fold_rejected(watermark, batch, cutoff, batch_size)
        result.rejected, full = n, full or more
        result.caught_up = not full
        if result.rows:
            batch_write(batch, now)
        if sample:
            open_queue_sample(now)
        watermark.folded_at = now
        watermark.save(
            update_fields=[
                "last_prediction_id",
                "last_decision_id",
                "last_breach_at",
                "last_breach_item_id",
                "last_rejected_id",
                "folded_at",
            ]
        )
        # No audit event per fold: rollups are derived data rebuilt from audited rows, and an
        # event every few seconds would drown the log; `folded_at` records the last run.
    return result


def _fold_predictions(
    watermark: RollupWatermark, batch: Batch, cutoff: dt.datetime, minutes: int, size: int
) -> tuple[int, bool]:
    rows = list(
        Prediction.objects.filter(id__gt=watermark.last_prediction_id)
        .order_by("id")
        .values_list(
            "id", "model_id", "received_at", "status", "routed", "reason_codes", "confidence"
        )[: size + 1]
    )
    folded = 0
    for pid, model_id, received_at, status, routed, reasons, confidence in rows[:size]:
        if status == Prediction.Status.RECEIVED or routed is None or received_at > cutoff:
            return folded, False  # stop at the first row not ready: the watermark is a prefix
        # A halted model's prediction (status fallback) was neither routed nor passed: its
        # output was not used, so it never counts as auto-accepted.
        outcome = (
            "routed" if routed else "fallback" if status == Prediction.Status.FALLBACK else "passed"
        )
        bucket, total = batch.delta(model_id, received_at, minutes)
        for delta in (bucket, total):
            delta.scalars["ingested"] += 1
            if outcome != "fallback":
                delta.scalars[outcome] += 1
            if routed:
                for code in reasons or []:
                    delta.reasons[str(code)] += 1
        fine = batch.fine_delta(model_id, received_at)
        fine.scalars["received"] += 1
        fine.scalars[outcome] += 1
        fine.scalars["confidence_count"] += 1
        for code, counter in _REASON_COUNTERS:
            if code in (reasons or ()):
                fine.scalars[counter] += 1
        fine.confidence_sum += confidence
        watermark.last_prediction_id = pid
        folded += 1
    return folded, len(rows) > size


# Reason codes counted per 5-minute bucket (the monitors' rates), and their counters.
_REASON_COUNTERS = (
    (LOW_CONFIDENCE, "low_confidence"),
    (OOD_ABOVE_LIMIT, "ood"),
    (DATA_ANOMALY, "anomalies"),
)


def _fold_decisions(
    watermark: RollupWatermark, batch: Batch, cutoff: dt.datetime, minutes: int, size: int
) -> tuple[int, bool]:
    rows = list(
        Decision.objects.filter(counted_items("item__"), id__gt=watermark.last_decision_id)
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
            "prediction__reason_codes",
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
            reasons,
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
            qa_sample=reasons == [QA_SAMPLE],
        )
    return folded, len(rows) > size


def _count_decision(
    batch: Batch,
    minutes: int,
    *,
    model_id: int,
    reviewer_id: int,
    action: str,
    confidence: float,
    decided_at: dt.datetime,
    received_at: dt.datetime,
    qa_sample: bool = False,
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
    fine = batch.fine_delta(model_id, decided_at)
    fine.scalars[counter] += 1
    # A QA sample is routed only for the sample (routing would have auto-accepted it), so an
    # override of one is a human overturning what would have passed.
    if final and qa_sample:
        fine.scalars["qa_decided"] += 1
        if action == Decision.Action.OVERRIDE:
            fine.scalars["qa_overridden"] += 1
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
    watermark: RollupWatermark, batch: Batch, cutoff: dt.datetime, minutes: int, size: int
) -> tuple[int, bool]:
    qs = ReviewItem.objects.filter(
        counted_items(), sla_breached_at__isnull=False, sla_breached_at__lte=cutoff
    )
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
        batch.fine_delta(model_id, breached_at).scalars["sla_breaches"] += 1
        watermark.last_breach_at = breached_at
        watermark.last_breach_item_id = item_id
    return min(len(rows), size), len(rows) > size


def _fold_rejected(
    watermark: RollupWatermark, batch: Batch, cutoff: dt.datetime, size: int
) -> tuple[int, bool]:
    """Envelopes the ingest queue refused, counted in the 5-minute bucket of their
    ``received_at`` for the model their envelope named (one unknown to us counts nowhere)."""
    rows = list(
        RejectedEnvelope.objects.filter(id__gt=watermark.last_rejected_id)
        .order_by("id")
        .values_list("id", "received_at", "envelope")[: size + 1]
    )
    if not rows:
        return 0, False
    slugs = {_slug_of(env) for _id, _at, env in rows[:size]} - {None}
    model_ids = dict(MLModel.objects.filter(slug__in=slugs).values_list("slug", "id"))
    folded = 0
    for rid, received_at, envelope in rows[:size]:
        if received_at > cutoff:
            return folded, False
        model_id = model_ids.get(_slug_of(envelope))  # type: ignore[arg-type]
        if model_id is not None:
            batch.fine_delta(model_id, received_at).scalars["rejected"] += 1
        watermark.last_rejected_id = rid
        folded += 1
    return folded, len(rows) > size


def _slug_of(envelope: object) -> str | None:
    slug = envelope.get("model") if isinstance(envelope, dict) else None
    return slug if isinstance(slug, str) else None

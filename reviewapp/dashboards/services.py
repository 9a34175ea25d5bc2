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
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Count, Q
from django.utils import timezone

from reviewapp.core.audit import Actor, audit_record
from reviewapp.governance.rules import QA_SAMPLE
from reviewapp.models import OPEN_STATUSES, Decision, MLModel, Prediction, ReviewItem
from reviewapp.selectors.queue import fresh_count_snapshot

from .models import (
    COUNTER_FIELDS,
    METRIC_BUCKET_MINUTES,
    METRIC_COUNTER_FIELDS,
    TTD_BIN_COUNT,
    TTD_FIELDS,
    MetricBucket,
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
class FineDelta:
    """Increments for one 5-minute :class:`MetricBucket`."""

    scalars: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    confidence_sum: float = 0.0


# Purposes of review items that never count in figures (DESIGN: "gold and qualification items
# never count in dashboards, monitors, ..."). Review items have no `purpose` yet; the day they
# get one, `counted_items` starts excluding these by itself (and a test checks it does).
UNCOUNTED_PURPOSES = ("gold", "qualification")


def counted_items(prefix: str = "") -> Q:
    """The filter that keeps gold/qualification review items out of the figures.

    ``prefix`` is the path from the queried model to the review item (``"item__"`` from a
    decision). An empty ``Q()`` while ``ReviewItem`` has no ``purpose`` field.
    """
    if "purpose" not in {f.name for f in ReviewItem._meta.get_fields()}:
        return Q()
    return ~Q(**{f"{prefix}purpose__in": UNCOUNTED_PURPOSES})


@dataclass
class _Batch:
    # Fine buckets that start before this are past retention: not written (a rebuild re-reads
    # old rows, which would only be created to be pruned).
    fine_floor: dt.datetime
    buckets: dict[tuple[int, dt.datetime], Delta] = field(default_factory=dict)
    totals: dict[int, Delta] = field(default_factory=dict)
    reviewer_days: dict[tuple[int, int, dt.date], dict[str, int]] = field(default_factory=dict)
    fine: dict[tuple[int, dt.datetime], FineDelta] = field(default_factory=dict)

    def delta(self, model_id: int, moment: dt.datetime, minutes: int) -> tuple[Delta, Delta]:
        key = (model_id, bucket_floor(moment, minutes))
        return (
            self.buckets.setdefault(key, Delta()),
            self.totals.setdefault(model_id, Delta()),
        )

    def fine_delta(self, model_id: int, moment: dt.datetime) -> FineDelta:
        """The 5-minute delta of a moment, or a throwaway one past retention."""
        start = bucket_floor(moment, METRIC_BUCKET_MINUTES)
        if start < self.fine_floor:
            return FineDelta()
        return self.fine.setdefault((model_id, start), FineDelta())


def bucket_minutes() -> int:
    return max(1, int(getattr(settings, "DASHBOARD_BUCKET_MINUTES", 60)))


def metrics_retention() -> dt.timedelta:
    return dt.timedelta(days=max(1, int(getattr(settings, "DASHBOARD_METRICS_RETENTION_DAYS", 14))))


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
        moved = _fold_batch(now=now or timezone.now(), batch_size=batch_size, sample=i == 0)
        result.batches += 1
        result.predictions += moved.predictions
        result.decisions += moved.decisions
        result.breaches += moved.breaches
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
        batch = _Batch(fine_floor=bucket_floor(now - metrics_retention(), METRIC_BUCKET_MINUTES))
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
        if sample:
            _sample_open_queue(now)
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
        .values_list(
            "id", "model_id", "received_at", "status", "routed", "reason_codes", "confidence"
        )[: size + 1]
    )
    folded = 0
    for pid, model_id, received_at, status, routed, reasons, confidence in rows[:size]:
        if status == Prediction.Status.RECEIVED or routed is None or received_at > cutoff:
            return folded, False  # stop at the first row not ready: the watermark is a prefix
        bucket, total = batch.delta(model_id, received_at, minutes)
        for delta in (bucket, total):
            delta.scalars["ingested"] += 1
            delta.scalars["routed" if routed else "passed"] += 1
            if routed:
                for code in reasons or []:
                    delta.reasons[str(code)] += 1
        fine = batch.fine_delta(model_id, received_at)
        fine.scalars["received"] += 1
        fine.scalars["routed" if routed else "passed"] += 1
        fine.scalars["confidence_count"] += 1
        fine.confidence_sum += confidence
        watermark.last_prediction_id = pid
        folded += 1
    return folded, len(rows) > size


def _fold_decisions(
    watermark: RollupWatermark, batch: _Batch, cutoff: dt.datetime, minutes: int, size: int
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
    batch: _Batch,
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
    watermark: RollupWatermark, batch: _Batch, cutoff: dt.datetime, minutes: int, size: int
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


def _write(batch: _Batch, now: dt.datetime) -> None:
    _upsert_rollups(batch.buckets, now)
    _upsert_totals(batch.totals, now)
    _upsert_reviewer_days(batch.reviewer_days)
    _upsert_metric_buckets(batch.fine, now)


def _write_sums(
    model: type[models.Model], rows: list[Any], unique: list[str], fields: list[str]
) -> None:
    """Write summed rows back, new and existing alike, with INSERT … ON CONFLICT DO UPDATE
    (500 rows a statement; PostgreSQL and SQLite both have it).

    Replaces ``bulk_update``, whose CASE-per-column-per-row statement is slow to build for the
    hundreds of buckets a batch can touch. The values are complete sums read under the
    watermark lock, so overwriting on conflict is exact.
    """
    for row in rows:
        row.pk = None  # the unique key, not the id, decides insert or update
    model.objects.bulk_create(
        rows, batch_size=500, update_conflicts=True, unique_fields=unique, update_fields=fields
    )


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
    _write_sums(ModelRollup, [*new, *changed], ["model", "bucket_start"], _COUNTER_FIELDS)


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
    _write_sums(ModelTotal, [*new, *changed], ["model"], _COUNTER_FIELDS)


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
    _write_sums(
        ReviewerDay,
        [*new, *changed],
        ["model", "reviewer", "day"],
        ["decided", "accepted", "overridden", "escalated", "deferred"],
    )


def _upsert_metric_buckets(
    deltas: dict[tuple[int, dt.datetime], FineDelta], now: dt.datetime
) -> None:
    """Add the deltas to their buckets: read the rows there are, write every sum back with one
    INSERT … ON CONFLICT DO UPDATE per 500 rows.

    A batch touches many 5-minute buckets (a batch of decisions or breaches spans hours), and
    Django's ``bulk_update`` builds a CASE per column per row, which cost seconds a batch here.
    Safe as a read-modify-write because only the fold writes counters, under the watermark lock.
    """
    if not deltas:
        return
    fields = [*METRIC_COUNTER_FIELDS, "confidence_sum"]
    existing = {
        (r["model_id"], r["bucket_start"]): r
        for r in MetricBucket.objects.filter(
            model_id__in={m for m, _ in deltas}, bucket_start__in={s for _, s in deltas}
        ).values("model_id", "bucket_start", *fields)
    }
    rows = []
    for (model_id, start), delta in deltas.items():
        current = existing.get((model_id, start), {})
        values = {name: current.get(name, 0) + delta.scalars.get(name, 0) for name in fields}
        values["confidence_sum"] = current.get("confidence_sum", 0.0) + delta.confidence_sum
        rows.append(MetricBucket(model_id=model_id, bucket_start=start, updated_at=now, **values))
    MetricBucket.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["model", "bucket_start"],
        update_fields=[*fields, "updated_at"],
    )


def _sample_open_queue(now: dt.datetime) -> None:
    """Write every model's open-queue length into the 5-minute bucket of the sample's time.

    A gauge cannot be rebuilt from raw rows later, so it is sampled on every fold run (the
    first batch), models with an empty queue included (0 is a reading, a missing row is not).
    """
    counts, now = _open_counts(now)
    model_ids = list(MLModel.objects.order_by().values_list("id", flat=True))
    if not model_ids:
        return
    start = bucket_floor(now, METRIC_BUCKET_MINUTES)
    existing = {
        r.model_id: r
        for r in MetricBucket.objects.filter(model_id__in=model_ids, bucket_start=start)
    }
    new, changed = [], []
    for model_id in model_ids:
        value = counts.get(model_id, 0)
        row = existing.get(model_id)
        if row is None:
            row = MetricBucket(model_id=model_id, bucket_start=start)
            new.append(row)
        else:
            changed.append(row)
        if row.open_queue_at is None or row.open_queue_at <= now:
            row.open_queue = value  # the bucket keeps its latest sample
            row.open_queue_at = now
        row.open_queue_max = max(row.open_queue_max or 0, value)
        row.updated_at = now
    MetricBucket.objects.bulk_create(new, batch_size=500)
    MetricBucket.objects.bulk_update(
        changed, ["open_queue", "open_queue_max", "open_queue_at", "updated_at"], batch_size=500
    )


def _open_counts(now: dt.datetime) -> tuple[dict[int, int], dt.datetime]:
    """Open items per model, and when they were counted.

    From the queue's count snapshot when beat keeps it fresh (counting a million open items
    takes hundreds of ms, too much every 15 s), else one grouped count over open items. The
    snapshot cannot leave out gold/qualification items, so once items have a purpose the count
    is made here.
    """
    snapshot = fresh_count_snapshot()
    if snapshot is not None and counted_items() == Q():
        counts: dict[int, int] = defaultdict(int)
        for row in snapshot.rows:
            counts[row["model_id"]] += row["n"]
        return counts, snapshot.computed_at
    rows = (
        ReviewItem.objects.filter(counted_items(), status__in=OPEN_STATUSES)
        .order_by()
        .values_list("model_id")
        .annotate(n=Count("id"))
    )
    return dict(rows), now


def metric_buckets_prune(*, now: dt.datetime | None = None) -> int:
    """Delete 5-minute buckets older than ``DASHBOARD_METRICS_RETENTION_DAYS``.

    Not audited: the buckets are derived data (the counters can be folded again from the audited
    raw rows; only old open-queue samples are lost, which is what retention means), and an event
    per prune would say nothing the setting does not. The hourly rollups are kept.
    """
    floor = bucket_floor((now or timezone.now()) - metrics_retention(), METRIC_BUCKET_MINUTES)
    with transaction.atomic():
        deleted, _ = MetricBucket.objects.filter(bucket_start__lt=floor).delete()
    if deleted:
        logger.info("pruned %s metric buckets older than %s", deleted, floor.isoformat())
    return deleted


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
    or after restoring raw tables. The next folds re-read the raw tables once, in batches. The
    5-minute buckets' counters are zeroed and folded again; their open-queue samples are kept.
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
        # The 5-minute counters are folded again with everything else; the open-queue samples
        # stay (a gauge cannot be re-read from the raw tables), so rules keep their history.
        MetricBucket.objects.update(
            **dict.fromkeys(METRIC_COUNTER_FIELDS, 0), confidence_sum=0.0, updated_at=timezone.now()
        )
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

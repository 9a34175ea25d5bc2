"""The 5-minute metric buckets' own upkeep: the open-queue sample each fold run takes, and pruning
buckets past ``DASHBOARD_METRICS_RETENTION_DAYS``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min
from django.utils.dateparse import parse_datetime

from reviewapp.core import clock
from reviewapp.models import OPEN_STATUSES, MLModel, ReviewItem
from reviewapp.selectors.queue import fresh_count_snapshot

from ..models import METRIC_BUCKET_MINUTES, MetricBucket
from ..stats import bucket_floor
from .batch import UNCOUNTED_PURPOSES, counted_items

logger = logging.getLogger(__name__)


def metrics_retention() -> dt.timedelta:
    return dt.timedelta(days=max(1, int(getattr(settings, "DASHBOARD_METRICS_RETENTION_DAYS", 14))))


def open_queue_sample(now: dt.datetime) -> None:
    """Write every model's open-queue length into the 5-minute bucket of the sample's time.

    A gauge cannot be rebuilt from raw rows later, so it is sampled on every fold run (the
    first batch), models with an empty queue included (0 is a reading, a missing row is not).
    """
    counts, oldest, now = _open_counts(now)
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
            since = oldest.get(model_id)
            # 0 when nothing waits (a reading, like an empty queue).
            row.oldest_waiting_minutes = (
                max(0.0, (now - since).total_seconds() / 60) if since is not None else 0.0
            )
        row.open_queue_max = max(row.open_queue_max or 0, value)
        row.updated_at = now
    MetricBucket.objects.bulk_create(new, batch_size=500)
    MetricBucket.objects.bulk_update(
        changed,
        ["open_queue", "open_queue_max", "open_queue_at", "oldest_waiting_minutes", "updated_at"],
        batch_size=500,
    )


def _open_counts(
    now: dt.datetime,
) -> tuple[dict[int, int], dict[int, dt.datetime], dt.datetime]:
    """Open items per model, the oldest one's creation time per model, and when they were
    counted.

    From the queue's count snapshot when beat keeps it fresh (counting a million open items
    takes hundreds of ms, too much every 15 s), else one grouped count over open items. The
    snapshot counts per purpose; gold and qualification items are left out (a snapshot written
    before items had a purpose is not used).
    """
    snapshot = fresh_count_snapshot()
    if snapshot is not None and all("purpose" in row for row in snapshot.rows):
        counts: dict[int, int] = defaultdict(int)
        oldest: dict[int, dt.datetime] = {}
        for row in snapshot.rows:
            if row["purpose"] not in UNCOUNTED_PURPOSES:
                counts[row["model_id"]] += row["n"]
                at = parse_datetime(row["oldest"]) if row.get("oldest") else None
                if at is not None and (
                    row["model_id"] not in oldest or at < oldest[row["model_id"]]
                ):
                    oldest[row["model_id"]] = at
        return counts, oldest, snapshot.computed_at
    rows = (
        ReviewItem.objects.filter(counted_items(), status__in=OPEN_STATUSES)
        .order_by()
        .values_list("model_id")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    )
    counts, oldest = {}, {}
    for model_id, n, at in rows:
        counts[model_id], oldest[model_id] = n, at
    return counts, oldest, now


def metric_buckets_prune(*, now: dt.datetime | None = None) -> int:
    """Delete 5-minute buckets older than ``DASHBOARD_METRICS_RETENTION_DAYS``.

    Not audited: the buckets are derived data (the counters can be folded again from the audited
    raw rows; only old open-queue samples are lost, which is what retention means), and an event
    per prune would say nothing the setting does not. The hourly rollups are kept.
    """
    floor = bucket_floor((now or clock.now()) - metrics_retention(), METRIC_BUCKET_MINUTES)
    with transaction.atomic():
        deleted, _ = MetricBucket.objects.filter(bucket_start__lt=floor).delete()
    if deleted:
        logger.info("pruned %s metric buckets older than %s", deleted, floor.isoformat())
    return deleted

"""Adding a fold batch to the stored rows: hourly rollups, all-time totals, reviewer-days and
5-minute buckets, each with INSERT … ON CONFLICT DO UPDATE under the watermark lock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models

from ..models import (
    COUNTER_FIELDS,
    METRIC_COUNTER_FIELDS,
    TTD_FIELDS,
    MetricBucket,
    ModelRollup,
    ModelTotal,
    ReviewerDay,
)
from .batch import Batch, Delta, FineDelta


def batch_write(batch: Batch, now: dt.datetime) -> None:
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


_COUNTER_FIELDS = [
    *COUNTER_FIELDS,
    "reasons",
    *TTD_FIELDS,
    "ttd_sum_seconds",
    "calibration_decided",
    "calibration_agreed",
    "updated_at",
]

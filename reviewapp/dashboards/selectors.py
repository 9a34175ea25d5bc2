"""Reads for the dashboards: rollup rows, policy changes and a few cheap live counts.

Nothing here scans the prediction or decision tables. Live queue figures come from one grouped
count over the open review items (an indexed status filter), the rest from rollups.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Min, Q, QuerySet, Sum
from django.db.models.functions import ExtractHour, TruncDay
from django.utils.dateparse import parse_datetime

from reviewapp.governance.models import PolicyVersion
from reviewapp.models import OPEN_STATUSES, MLModel, Prediction, ReviewItem
from reviewapp.selectors.queue import fresh_count_snapshot

from . import rules
from .models import (
    COUNTER_FIELDS,
    METRIC_BUCKET_MINUTES,
    TTD_FIELDS,
    MetricBucket,
    ModelRollup,
    ModelTotal,
    ReviewerDay,
    RollupWatermark,
)
from .services.batch import UNCOUNTED_PURPOSES, counted_items
from .stats import bucket_floor

ROLLUP_FIELDS = (
    "model_id",
    "bucket_start",
    *COUNTER_FIELDS,
    "reasons",
    *TTD_FIELDS,
    "calibration_decided",
    "calibration_agreed",
)


@dataclass(frozen=True)
class LiveQueue:
    open: int = 0
    pending: int = 0
    breached_open: int = 0
    oldest_created_at: dt.datetime | None = None


def models_list() -> QuerySet[MLModel]:
    return MLModel.objects.order_by("slug")


def watermark_read() -> RollupWatermark | None:
    return RollupWatermark.objects.filter(name="main").first()


def rollup_rows(
    *, start: dt.datetime, end: dt.datetime, model_ids: Iterable[int] | None = None
) -> list[dict[str, Any]]:
    """Rollup rows with ``start <= bucket_start < end``, oldest first, as plain dicts."""
    qs = ModelRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=end)
    if model_ids is not None:
        qs = qs.filter(model_id__in=list(model_ids))
    return list(qs.order_by("bucket_start").values(*ROLLUP_FIELDS))


SUMMED_FIELDS = (*COUNTER_FIELDS, *TTD_FIELDS)


def rollup_sums(
    *, periods: dict[str, dt.datetime], end: dt.datetime
) -> dict[int, dict[str, dict[str, int]]]:
    """Per model, the summed counters since each named start: one grouped query in the
    database, so the overview's cost does not grow with the range or the bucket count.
    Returns {model_id: {period: {field: total}}}."""
    aggregates = {
        f"{period}__{name}": Sum(name, filter=Q(bucket_start__gte=start))
        for period, start in periods.items()
        for name in SUMMED_FIELDS
    }
    rows = (
        ModelRollup.objects.filter(bucket_start__gte=min(periods.values()), bucket_start__lt=end)
        .order_by()
        .values("model_id")
        .annotate(**aggregates)
    )
    out: dict[int, dict[str, dict[str, int]]] = {}
    for row in rows:
        per = out.setdefault(row["model_id"], {p: {} for p in periods})
        for key, value in row.items():
            if "__" in key:
                period, name = key.split("__", 1)
                per[period][name] = value or 0
    return out


def rate_points(
    *, start: dt.datetime, end: dt.datetime, step: dt.timedelta | None = None
) -> list[dict[str, Any]]:
    """Only what the uncertain-rate trend needs, for every model: no JSON columns. For daily
    chart buckets the database sums the rows per UTC day, so 30 days of hourly rollups come
    back as 30 rows per model."""
    qs = ModelRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=end)
    if step == dt.timedelta(days=1):
        return list(
            qs.annotate(day=TruncDay("bucket_start", tzinfo=dt.UTC))
            .order_by()
            .values("model_id", "day")
            .annotate(ingested=Sum("ingested"), routed=Sum("routed"))
            .values("model_id", "ingested", "routed", bucket_start=F("day"))
            .order_by("day")
        )
    return list(
        qs.order_by("bucket_start").values("model_id", "bucket_start", "ingested", "routed")
    )


@dataclass(frozen=True)
class InboxBacklog:
    waiting: int
    oldest_received_at: dt.datetime | None


def inbox_backlog() -> InboxBacklog:
    """Predictions received and not yet routed: how many, and since when the oldest waits.
    One aggregate over the inbox's partial index (rows leave it once routed)."""
    found = Prediction.objects.filter(status=Prediction.Status.RECEIVED).aggregate(
        waiting=Count("id"), oldest=Min("received_at")
    )
    return InboxBacklog(found["waiting"], found["oldest"])


def live_queue(*, model_ids: Iterable[int] | None = None) -> dict[int, LiveQueue]:
    """Open review items per model right now: count, pending, breached, oldest.

    Read from the queue-count snapshot that beat refreshes every few seconds (counting a
    million open items takes a few hundred ms, too slow for each page view); counted here
    only when the snapshot is missing or stale (beat not running).
    """
    wanted = set(model_ids) if model_ids is not None else None
    snapshot = fresh_count_snapshot()
    if snapshot is not None:
        acc: dict[int, dict[str, Any]] = {}
        for r in snapshot.rows:
            if wanted is not None and r["model_id"] not in wanted:
                continue
            if r.get("purpose") in UNCOUNTED_PURPOSES:
                continue  # gold and qualification test reviewers: never counted (DESIGN)
            a = acc.setdefault(r["model_id"], {"open": 0, "pending": 0, "breached": 0, "at": None})
            a["open"] += r["n"]
            a["breached"] += r["breached"]
            if r["status"] == ReviewItem.Status.PENDING:
                a["pending"] += r["n"]
            oldest = parse_datetime(r["oldest"]) if r.get("oldest") else None
            if oldest and (a["at"] is None or oldest < a["at"]):
                a["at"] = oldest
        return {
            model_id: LiveQueue(
                open=a["open"],
                pending=a["pending"],
                breached_open=a["breached"],
                oldest_created_at=a["at"],
            )  # fmt: skip
            for model_id, a in acc.items()
        }
    qs = ReviewItem.objects.filter(counted_items(), status__in=OPEN_STATUSES)
    if model_ids is not None:
        qs = qs.filter(model_id__in=list(model_ids))
    rows = (
        qs.order_by()
        .values("model_id")
        .annotate(
            open=Count("id"),
            pending=Count("id", filter=Q(status=ReviewItem.Status.PENDING)),
            breached_open=Count("id", filter=Q(sla_breached_at__isnull=False)),
            oldest=Min("created_at"),
        )
    )
    return {
        r["model_id"]: LiveQueue(
            open=r["open"],
            pending=r["pending"],
            breached_open=r["breached_open"],
            oldest_created_at=r["oldest"],
        )
        for r in rows
    }


def policy_history(*, model_slugs: Iterable[str]) -> list[PolicyVersion]:
    """Every version that was ever activated, oldest activation first."""
    return list(
        PolicyVersion.objects.filter(model_slug__in=list(model_slugs), activated_at__isnull=False)
        .only("model_slug", "version", "rules", "rules_hash", "activated_at", "deactivated_at")
        .order_by("activated_at", "id")
    )


def totals_by_model() -> dict[int, ModelTotal]:
    return {t.model_id: t for t in ModelTotal.objects.all()}


def reviewer_days(*, model_id: int, start: dt.date, end: dt.date) -> QuerySet[ReviewerDay]:
    return (
        ReviewerDay.objects.filter(model_id=model_id, day__gte=start, day__lte=end)
        .select_related("reviewer")
        .order_by("day", "reviewer__username")
    )


# --- 5-minute metrics ------------------------------------------------------------------------

# The stored columns of a bucket, in BucketFigures' order (``usual_received`` is computed).
_FIGURE_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(rules.BucketFigures)
    if f.name not in ("start", "usual_received")
)
# The usual level of traffic for an hour of day is read from this many days before it.
USUAL_DAYS = 7
# Fewer stored buckets than this at that hour over those days: no usual level (no data).
USUAL_MIN_BUCKETS = 12


def metrics_complete_until(*, until: dt.datetime) -> dt.datetime:
    """End of the newest 5-minute bucket the fold has settled, at or before ``until``.

    The fold at time F has counted predictions and breaches up to F - settle and decisions up
    to F - settle - undo grace (they count once the grace has passed, in the bucket of
    ``decided_at``); a bucket is complete once it ends before both. One query.
    """
    folded_at = (
        RollupWatermark.objects.filter(name="main").values_list("folded_at", flat=True).first()
    )
    if folded_at is None:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    reach = folded_at - dt.timedelta(
        seconds=float(settings.DASHBOARD_SETTLE_SECONDS) + float(settings.REVIEW_UNDO_SECONDS)
    )
    return bucket_floor(min(until, reach), METRIC_BUCKET_MINUTES)


def metric_buckets(
    *, model_id: int, since: dt.datetime, until: dt.datetime
) -> list[rules.BucketFigures]:
    """The 5-minute buckets with ``since <= start < until`` that have a row, oldest first."""
    return metric_buckets_many(model_ids=[model_id], since=since, until=until).get(model_id, [])


def metric_buckets_many(
    *, model_ids: Iterable[int], since: dt.datetime, until: dt.datetime
) -> dict[int, list[rules.BucketFigures]]:
    """{model id: its buckets with ``since <= start < until``, oldest first}: one query."""
    rows = (
        MetricBucket.objects.filter(
            model_id__in=list(model_ids), bucket_start__gte=since, bucket_start__lt=until
        )
        .order_by("model_id", "bucket_start")
        .values_list("model_id", "bucket_start", *_FIGURE_FIELDS)
    )
    out: dict[int, list[rules.BucketFigures]] = {}
    for model_id, *row in rows:
        out.setdefault(model_id, []).append(rules.BucketFigures(*row))
    return out


def usual_received(
    *, model_ids: Iterable[int], starts: Iterable[dt.datetime]
) -> dict[tuple[int, dt.datetime], float]:
    """{(model id, bucket start): the usual number received in a 5-minute bucket at that
    hour of day}: the median over the buckets of the same UTC hour on the ``USUAL_DAYS`` days
    before the bucket's day (up to 84 buckets). Only stored buckets count (the fold writes one
    every run, so a missing one means nothing was measured, not that nothing came); fewer than
    ``USUAL_MIN_BUCKETS`` give no usual level. One query for every model and hour.
    """
    starts = sorted(set(starts))
    model_ids = list(model_ids)
    if not starts or not model_ids:
        return {}
    hours = sorted({s.astimezone(dt.UTC).hour for s in starts})
    first_day = bucket_floor(starts[0], 24 * 60) - dt.timedelta(days=USUAL_DAYS)
    last_day = bucket_floor(starts[-1], 24 * 60)
    rows = (
        MetricBucket.objects.filter(
            model_id__in=model_ids, bucket_start__gte=first_day, bucket_start__lt=last_day
        )
        .annotate(hour=ExtractHour("bucket_start", tzinfo=dt.UTC))
        .filter(hour__in=hours)
        .order_by()
        .values_list("model_id", "bucket_start", "received")
    )
    by_hour: dict[tuple[int, int], list[tuple[dt.date, int]]] = {}
    for model_id, start, received in rows:
        start = start.astimezone(dt.UTC)
        by_hour.setdefault((model_id, start.hour), []).append((start.date(), received))
    out: dict[tuple[int, dt.datetime], float] = {}
    medians: dict[tuple[int, int, dt.date], float | None] = {}
    for model_id in model_ids:
        for start in starts:
            utc = start.astimezone(dt.UTC)
            key = (model_id, utc.hour, utc.date())
            if key not in medians:
                low = utc.date() - dt.timedelta(days=USUAL_DAYS)
                values = [
                    n for day, n in by_hour.get((model_id, utc.hour), []) if low <= day < utc.date()
                ]
                medians[key] = (
                    statistics.median(values) if len(values) >= USUAL_MIN_BUCKETS else None
                )
            if medians[key] is not None:
                out[(model_id, start)] = float(medians[key])  # type: ignore[arg-type]
    return out


def _series(
    metric: str, by_start: dict[dt.datetime, rules.BucketFigures], start: dt.datetime,
    end: dt.datetime, until: dt.datetime,
) -> rules.Series:  # fmt: skip
    width = dt.timedelta(minutes=METRIC_BUCKET_MINUTES)
    points = []
    moment = start
    while moment < end:
        bucket = by_start.get(moment)
        value = rules.metric_value(metric, [bucket], METRIC_BUCKET_MINUTES) if bucket else None
        points.append(rules.Point(moment, value))
        moment += width
    return rules.Series(
        metric=metric,
        bucket_minutes=METRIC_BUCKET_MINUTES,
        points=tuple(points),
        until=until,
        complete_until=max(end, start),
    )


def metric_series(
    *, model_id: int, metric: str, since: dt.datetime, until: dt.datetime
) -> rules.Series:
    """One named metric per complete 5-minute bucket from ``since`` (rounded down to a bucket)
    to ``until``, oldest first, on a gap-free grid: a bucket with no row (the fold did not run,
    or the model did not exist) is a point with no value. Buckets the fold has not settled yet
    are left out; ``Series.complete_until`` says where the series stops. Two queries (three
    for a metric that compares with the usual level, ``received_vs_usual``).
    """
    if metric not in rules.METRICS:
        raise ValueError(f"metric: unknown metric {metric!r}")
    return metric_series_many(model_ids=[model_id], metrics=[metric], since=since, until=until)[
        model_id
    ][metric]


def metric_series_many(
    *, model_ids: Iterable[int], metrics: Iterable[str], since: dt.datetime, until: dt.datetime
) -> dict[int, dict[str, rules.Series]]:
    """:func:`metric_series` for many models and metrics at once, {model id: {metric:
    series}}: one query for the settled reach, one for every model's buckets, and one for the
    usual levels when a metric needs them, however many models and metrics."""
    model_ids = list(model_ids)
    metrics = list(metrics)
    for metric in metrics:
        if metric not in rules.METRICS:
            raise ValueError(f"metric: unknown metric {metric!r}")
    start = bucket_floor(since, METRIC_BUCKET_MINUTES)
    end = metrics_complete_until(until=until)
    buckets = (
        metric_buckets_many(model_ids=model_ids, since=start, until=end) if end > start else {}
    )
    if any(rules.METRICS[m].needs_usual for m in metrics) and end > start:
        starts = {b.start for found in buckets.values() for b in found}
        usual = usual_received(model_ids=model_ids, starts=starts)
        buckets = {
            model_id: [
                dataclasses.replace(b, usual_received=usual.get((model_id, b.start))) for b in found
            ]
            for model_id, found in buckets.items()
        }
    out: dict[int, dict[str, rules.Series]] = {}
    for model_id in model_ids:
        by_start = {b.start: b for b in buckets.get(model_id, [])}
        out[model_id] = {m: _series(m, by_start, start, end, until) for m in metrics}
    return out


def trigger_evaluate(
    *, model_slug: str, metric: str, op: str, bound: float, duration_minutes: int,
    since: dt.datetime, until: dt.datetime,
) -> dict[str, Any] | None:  # fmt: skip
    """Hook ``governance.evaluate_trigger``: one rollback trigger (a threshold rule) on the
    model's 5-minute buckets that start at or after ``since`` (the time the version was
    applied: a bucket that began before it mixes in the previous version's traffic), up to
    ``until``. None for a model this app does not know. JSON-ready (times ISO 8601 UTC)."""
    model_id = MLModel.objects.filter(slug=model_slug).values_list("pk", flat=True).first()
    if model_id is None:
        return None
    start = bucket_floor(since, METRIC_BUCKET_MINUTES)
    if start < since:
        start += dt.timedelta(minutes=METRIC_BUCKET_MINUTES)
    rule = rules.Rule(metric=metric, op=op, bound=float(bound), duration_minutes=duration_minutes)
    finding = rules.evaluate(
        rule, metric_series(model_id=model_id, metric=metric, since=start, until=until)
    )
    return {
        "breached": finding.breached,
        "reason": finding.reason,
        "since": finding.since.isoformat() if finding.since else None,
        "as_of": finding.as_of.isoformat() if finding.as_of else None,
        "values": [{"start": p.start.isoformat(), "value": p.value} for p in finding.values],
    }

"""Occurrence trends of a failure mode."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count
from django.utils import timezone

from reviewapp.core import clock

from ..models import FailureMode, Occurrence


@dataclass
class OccurrenceSeries:
    weeks: list[tuple[dt.date, int]]
    total: int
    trend: str  # rising / stable / falling
    recent: list[Occurrence]
    by_source: dict[str, int]


def occurrence_trend(counts: list[int]) -> str:
    """Compare the last four weeks with the four before: ≥ 1.5× and +2 is rising, ≤ 0.5× and
    −2 is falling, anything else (including too little data) is stable."""
    recent, previous = sum(counts[-4:]), sum(counts[-8:-4])
    if recent >= max(previous * 1.5, previous + 2):
        return "rising"
    if recent <= previous * 0.5 and previous - recent >= 2:
        return "falling"
    return "stable"


def failure_mode_occurrences(
    fm: FailureMode, *, weeks: int = 12, now: dt.datetime | None = None
) -> OccurrenceSeries:
    now = now or clock.now()
    today = timezone.localdate(now)
    this_monday = today - dt.timedelta(days=today.weekday())
    starts = [this_monday - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    since = dt.datetime.combine(starts[0], dt.time(), tzinfo=timezone.get_current_timezone())
    dates = Occurrence.objects.filter(failure_mode=fm, occurred_at__gte=since).values_list(
        "occurred_at", flat=True
    )
    buckets = dict.fromkeys(starts, 0)
    for at in dates:
        day = timezone.localdate(at)
        monday = day - dt.timedelta(days=day.weekday())
        if monday in buckets:
            buckets[monday] += 1
    counts = [buckets[s] for s in starts]
    by_source = dict(
        Occurrence.objects.filter(failure_mode=fm)
        .values_list("source_type")
        .annotate(n=Count("id"))
        .values_list("source_type", "n")
    )
    recent = list(Occurrence.objects.filter(failure_mode=fm).order_by("-occurred_at")[:10])
    return OccurrenceSeries(
        weeks=list(zip(starts, counts, strict=True)),
        total=sum(by_source.values()),
        trend=occurrence_trend(counts),
        recent=recent,
        by_source=by_source,
    )

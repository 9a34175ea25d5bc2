"""The 5-minute metric buckets: what the fold writes, pruning, re-folds and the series selector.

The fixture's numbers are worked out by hand in the comments next to each row.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Q

from reviewapp.core.audit import Actor
from reviewapp.dashboards import rules
from reviewapp.dashboards.models import METRIC_COUNTER_FIELDS, MetricBucket, ModelRollup
from reviewapp.dashboards.selectors import metric_buckets, metric_series
from reviewapp.dashboards.services import (
    counted_items,
    metric_buckets_prune,
    rollups_fold,
    rollups_rebuild,
)
from reviewapp.models import Decision, QueueCountSnapshot, ReviewItem

from .conftest import T0, make_decision, make_item, make_prediction

NOW = T0 + dt.timedelta(days=1)
M = dt.timedelta(minutes=1)


def bucket(model, start):
    return MetricBucket.objects.get(model=model, bucket_start=start)


def counters(row):
    return {name: getattr(row, name) for name in METRIC_COUNTER_FIELDS}


def snapshot():
    return sorted(
        (
            r.model_id,
            r.bucket_start,
            *(getattr(r, f) for f in METRIC_COUNTER_FIELDS),
            round(r.confidence_sum, 9),
            r.open_queue,
            r.open_queue_max,
        )
        for r in MetricBucket.objects.all()
    )


@pytest.fixture
def traffic(model_a, model_b, ana):
    """model_a, 09:00-09:15 on T0's day; model_b one prediction. Items decided here are set
    to `decided` so only the open ones count in the queue gauge."""
    p1 = make_prediction(model_a, received_at=T0 + 1 * M, confidence=0.5)  # bucket 09:00
    make_prediction(model_a, received_at=T0 + 2 * M, routed=False, confidence=0.9)  # 09:00
    p3 = make_prediction(  # 09:00 (4:59 is still the first bucket): a QA sample
        model_a,
        received_at=T0 + 4 * M + dt.timedelta(seconds=59),
        reasons=("qa_sample",),
        confidence=0.95,
    )
    p4 = make_prediction(model_a, received_at=T0 + 5 * M, confidence=0.6)  # bucket 09:05
    p5 = make_prediction(model_a, received_at=T0 + 6 * M, confidence=0.4)  # bucket 09:05
    make_prediction(model_b, received_at=T0 + 3 * M, routed=False, confidence=0.85)

    i1, i3, i4, i5 = (make_item(p) for p in (p1, p3, p4, p5))
    make_decision(i1, ana, action=Decision.Action.ACCEPT, decided_at=T0 + 6 * M)  # 09:05
    make_decision(i3, ana, action=Decision.Action.OVERRIDE, decided_at=T0 + 7 * M)  # 09:05, QA
    make_decision(i4, ana, action=Decision.Action.ESCALATE, decided_at=T0 + 11 * M)  # 09:10
    make_decision(i4, ana, action=Decision.Action.DEFER, decided_at=T0 + 12 * M)  # 09:10
    # Undone: never counts.
    make_decision(
        i5, ana, action=Decision.Action.OVERRIDE, decided_at=T0 + 8 * M, undone_at=T0 + 8 * M
    )
    ReviewItem.objects.filter(pk__in=[i1.pk, i3.pk]).update(status="decided")
    ReviewItem.objects.filter(pk=i4.pk).update(sla_breached_at=T0 + 14 * M)  # 09:10
    # Older than the 14-day retention: in the hourly rollups only.
    make_prediction(model_a, received_at=NOW - dt.timedelta(days=15))
    return {"open_a": 2}  # i4 (deferred, still open) and i5 (pending)


def test_the_fold_writes_five_minute_buckets_computed_by_hand(traffic, model_a, model_b):
    rollups_fold(now=NOW)

    first = bucket(model_a, T0)
    assert counters(first) == {
        "received": 3,
        "routed": 2,
        "passed": 1,
        "accepted": 0,
        "overridden": 0,
        "escalated": 0,
        "deferred": 0,
        "qa_decided": 0,
        "qa_overridden": 0,
        "sla_breaches": 0,
        "confidence_count": 3,
        "low_confidence": 1,  # p1 (p3 is a QA sample, p2 passed)
        "ood": 0,
        "anomalies": 0,
        "fallback": 0,
        "rejected": 0,
    }
    assert first.confidence_sum == pytest.approx(0.5 + 0.9 + 0.95)
    second = bucket(model_a, T0 + 5 * M)
    assert counters(second) == {
        "received": 2,
        "routed": 2,
        "passed": 0,
        "accepted": 1,
        "overridden": 1,
        "escalated": 0,
        "deferred": 0,
        "qa_decided": 1,
        "qa_overridden": 1,
        "sla_breaches": 0,
        "confidence_count": 2,
        "low_confidence": 2,
        "ood": 0,
        "anomalies": 0,
        "fallback": 0,
        "rejected": 0,
    }
    assert second.confidence_sum == pytest.approx(1.0)
    third = bucket(model_a, T0 + 10 * M)
    assert (third.received, third.escalated, third.deferred, third.sla_breaches) == (0, 1, 1, 1)
    assert bucket(model_b, T0).received == 1 and bucket(model_b, T0).passed == 1

    # Past retention: the hourly rollup has it, no 5-minute bucket was written for it.
    old_hour = NOW - dt.timedelta(days=15)
    assert ModelRollup.objects.get(model=model_a, bucket_start=old_hour).ingested == 1
    assert not MetricBucket.objects.filter(bucket_start__lt=NOW - dt.timedelta(days=14)).exists()

    # The gauge: one sample per model in the bucket of the fold's clock, empty queues as 0.
    gauge_a, gauge_b = bucket(model_a, NOW), bucket(model_b, NOW)
    assert (gauge_a.open_queue, gauge_a.open_queue_max, gauge_a.open_queue_at) == (2, 2, NOW)
    assert (gauge_b.open_queue, gauge_b.received) == (0, 0)
    # Buckets without a sample have no reading (not zero).
    assert first.open_queue is None

    # The two widths agree: the 5-minute buckets of an hour add up to its rollup.
    hour = ModelRollup.objects.get(model=model_a, bucket_start=T0)
    fine = MetricBucket.objects.filter(
        model=model_a, bucket_start__gte=T0, bucket_start__lt=T0 + 60 * M
    )
    assert sum(b.received for b in fine) == hour.ingested
    assert sum(b.accepted + b.overridden for b in fine) == hour.decided
    assert sum(b.sla_breaches for b in fine) == hour.sla_breaches


def test_refolding_counts_nothing_twice_and_a_rebuild_gives_the_same_buckets(traffic, model_a):
    rollups_fold(now=NOW)
    once = snapshot()

    assert rollups_fold(now=NOW).rows == 0
    assert snapshot() == once  # the same gauge sample again changes nothing either

    rollups_rebuild(actor=Actor.system("test"))
    zeroed = bucket(model_a, T0)
    assert counters(zeroed)["received"] == 0
    assert bucket(model_a, NOW).open_queue == 2  # gauge samples survive a rebuild
    rollups_fold(now=NOW)
    assert snapshot() == once


def test_the_gauge_keeps_the_latest_sample_and_the_largest(model_a, traffic):
    rollups_fold(now=NOW)
    # One of the two open items is decided.
    ReviewItem.objects.filter(status="pending", sla_breached_at__isnull=True).update(
        status="decided"
    )
    rollups_fold(now=NOW + 2 * M)  # same bucket
    row = bucket(model_a, NOW)
    assert (row.open_queue, row.open_queue_max, row.open_queue_at) == (1, 2, NOW + 2 * M)
    rollups_fold(now=NOW + M)  # an older sample (a late run) does not overwrite a newer one
    assert bucket(model_a, NOW).open_queue_at == NOW + 2 * M


def test_the_gauge_reads_the_queue_snapshot_when_beat_keeps_it_fresh(model_a, traffic):
    from django.utils import timezone

    now = timezone.now()
    QueueCountSnapshot.objects.create(
        pk=1,
        computed_at=now,
        rows=[
            {
                "model_id": model_a.pk,
                "status": "pending",
                "purpose": "routed",
                "n": 7,
                "breached": 0,
            }
        ],
    )
    rollups_fold(now=NOW)
    sampled = MetricBucket.objects.get(model=model_a, open_queue_at=now)
    assert sampled.open_queue == 7


def test_pruning_drops_buckets_past_retention_only(model_a, settings):
    settings.DASHBOARD_METRICS_RETENTION_DAYS = 14
    for days in (20, 14.01, 13.99, 0):
        MetricBucket.objects.create(
            model=model_a, bucket_start=NOW - dt.timedelta(days=days) - dt.timedelta(seconds=1)
        )
    # Aligned starts are not needed for pruning; what matters is the age.
    assert metric_buckets_prune(now=NOW) == 2
    assert MetricBucket.objects.count() == 2
    assert metric_buckets_prune(now=NOW) == 0


def test_the_prune_task_is_on_beat(model_a, settings):
    from reviewapp.dashboards.tasks import prune_metric_buckets

    MetricBucket.objects.create(model=model_a, bucket_start=T0 - dt.timedelta(days=400))
    assert prune_metric_buckets.apply().get() == 1
    assert settings.CELERY_BEAT_SCHEDULE["prune-metric-buckets"]["task"] == (
        "failsafe.prune_metric_buckets"
    )


def test_gold_and_qualification_items_are_kept_out_once_items_have_a_purpose():
    has_purpose = any(f.name == "purpose" for f in ReviewItem._meta.get_fields())
    # Today there is no purpose field and nothing is filtered; the day it lands, this filter
    # (used for decisions, breaches and the queue gauge) excludes gold and qualification.
    assert (counted_items() != Q()) == has_purpose


def test_metric_series_is_a_gap_free_grid_of_complete_buckets(traffic, model_a, settings):
    settings.DASHBOARD_SETTLE_SECONDS = 10
    settings.REVIEW_UNDO_SECONDS = 8
    # Fold as if at 09:20:10: it has settled up to 09:19:52, so 09:15-09:20 is not complete.
    rollups_fold(now=T0 + 20 * M + dt.timedelta(seconds=10))
    series = metric_series(
        model_id=model_a.pk, metric="routed_rate", since=T0 + 2 * M, until=T0 + 30 * M
    )
    assert series.complete_until == T0 + 15 * M
    assert [p.start for p in series.points] == [T0, T0 + 5 * M, T0 + 10 * M]
    # 2 of 3 routed, 2 of 2, and no predictions in 09:10 (a rate of nothing is no value).
    assert [p.value for p in series.points] == [pytest.approx(2 / 3), 1.0, None]
    assert series.lag == 15 * M

    overrides = metric_series(model_id=model_a.pk, metric="override_rate", since=T0, until=NOW)
    assert [p.value for p in overrides.points[:3]] == [None, 0.5, None]


def test_metric_series_takes_two_queries_whatever_the_range(
    traffic, model_a, django_assert_num_queries
):
    rollups_fold(now=NOW)
    with django_assert_num_queries(2):
        series = metric_series(
            model_id=model_a.pk, metric="open_queue", since=NOW - dt.timedelta(days=7), until=NOW
        )
    assert len(series.points) == 7 * 24 * 12 - 1  # the bucket at NOW is not settled yet
    with django_assert_num_queries(1):
        metric_buckets(model_id=model_a.pk, since=T0, until=NOW)


def test_metric_series_refuses_an_unknown_metric(model_a):
    with pytest.raises(ValueError, match="metric"):
        metric_series(model_id=model_a.pk, metric="nope", since=T0, until=NOW)


def test_a_series_feeds_the_evaluator(traffic, model_a):
    rollups_fold(now=NOW)
    series = metric_series(model_id=model_a.pk, metric="received_per_minute", since=T0, until=NOW)
    rule = rules.Rule(metric="received_per_minute", op=">", bound=0.5, duration_minutes=5)
    finding = rules.evaluate(rule, series)
    # The fold ran once, so the newest settled bucket (08:50-08:55 next day) has no row at all:
    # missing data, never a breach.
    assert (finding.breached, finding.reason) == (False, rules.MISSING)
    assert finding.values == (rules.Point(NOW - 10 * M, None),)

"""The fold's counters for the fail-safe monitors, and the metrics they make."""

from __future__ import annotations

import datetime as dt

import pytest

from reviewapp.dashboards import rules
from reviewapp.dashboards.models import MetricBucket, ModelRollup
from reviewapp.dashboards.selectors import metric_series, usual_received
from reviewapp.dashboards.services import rollups_fold
from reviewapp.models import Prediction, RejectedEnvelope, ReviewItem

from .conftest import T0, make_item, make_prediction

pytestmark = pytest.mark.django_db
NOW = T0 + dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)


def test_halted_predictions_never_count_as_passed(model_a):
    make_prediction(model_a, received_at=T0 + M, routed=False)  # passed
    halted = make_prediction(model_a, received_at=T0 + 2 * M, routed=False)
    Prediction.objects.filter(pk=halted.pk).update(
        status=Prediction.Status.FALLBACK, reason_codes=["model_halted"]
    )
    rollups_fold(now=NOW)
    fine = MetricBucket.objects.get(model=model_a, bucket_start=T0)
    assert (fine.received, fine.passed, fine.fallback, fine.routed) == (2, 1, 1, 0)
    hour = ModelRollup.objects.get(model=model_a, bucket_start=T0)
    assert (hour.ingested, hour.passed, hour.routed) == (2, 1, 0)
    figures = rules.BucketFigures(T0, received=2, passed=1, fallback=1)
    assert rules.metric_value("auto_accept_rate", [figures], 5) == 0.5


def test_reason_counters_and_their_rates(model_a):
    make_prediction(model_a, received_at=T0 + M, reasons=("low_confidence", "ood_above_limit"))
    make_prediction(model_a, received_at=T0 + M, reasons=("data_anomaly",))
    make_prediction(model_a, received_at=T0 + M, reasons=("qa_sample",))
    make_prediction(model_a, received_at=T0 + M, routed=False)
    rollups_fold(now=NOW)
    fine = MetricBucket.objects.get(model=model_a, bucket_start=T0)
    assert (fine.low_confidence, fine.ood, fine.anomalies) == (1, 1, 1)
    series = {
        m: metric_series(model_id=model_a.pk, metric=m, since=T0, until=T0 + 5 * M).points[0]
        for m in ("uncertain_rate", "ood_rate", "anomaly_rate")
    }
    assert {m: p.value for m, p in series.items()} == {
        "uncertain_rate": 0.25, "ood_rate": 0.25, "anomaly_rate": 0.25,
    }  # fmt: skip


def test_rejected_envelopes_count_for_the_model_their_envelope_names(model_a):
    make_prediction(model_a, received_at=T0 + M)
    for envelope in ({"model": "card-fraud"}, {"model": "card-fraud"}, {"model": "nope"}, None):
        RejectedEnvelope.objects.create(
            received_at=T0 + 2 * M, envelope=envelope, errors={"confidence": ["Required."]}
        )
    result = rollups_fold(now=NOW)
    assert result.rejected == 4
    fine = MetricBucket.objects.get(model=model_a, bucket_start=T0)
    assert fine.rejected == 2
    value = rules.metric_value(
        "rejected_rate", [rules.BucketFigures(T0, received=1, rejected=2)], 5
    )
    assert value == pytest.approx(2 / 3)
    assert rollups_fold(now=NOW).rejected == 0  # the watermark moved: never twice


def test_the_oldest_waiting_item_is_sampled_with_the_queue(model_a, model_b):
    make_item(make_prediction(model_a, received_at=NOW - 40 * M))
    make_item(make_prediction(model_a, received_at=NOW - 10 * M))
    done = make_item(make_prediction(model_a, received_at=NOW - 90 * M))
    ReviewItem.objects.filter(pk=done.pk).update(status="decided")
    rollups_fold(now=NOW)
    sample = MetricBucket.objects.get(model=model_a, bucket_start=NOW)
    assert sample.open_queue == 2 and sample.oldest_waiting_minutes == pytest.approx(40)
    assert MetricBucket.objects.get(model=model_b, bucket_start=NOW).oldest_waiting_minutes == 0


def test_sla_breach_rate_is_breaches_over_routed():
    figures = rules.BucketFigures(T0, routed=20, sla_breaches=3)
    assert rules.metric_value("sla_breach_rate", [figures], 5) == 0.15
    assert rules.metric_value("sla_breach_rate", [rules.BucketFigures(T0)], 5) is None


def test_the_usual_level_is_the_median_of_the_same_hour_over_the_last_week(model_a):
    start = dt.datetime(2026, 11, 20, 14, 10, tzinfo=dt.UTC)
    for day in range(1, 8):
        for i in range(12):
            MetricBucket.objects.create(
                model=model_a,
                bucket_start=dt.datetime(2026, 11, 20 - day, 14, 0, tzinfo=dt.UTC) + 5 * i * M,
                received=10 * day,
            )
    # Another hour of day does not count, nor does the day itself.
    MetricBucket.objects.create(model=model_a, bucket_start=start - dt.timedelta(hours=3),
                                received=10_000)  # fmt: skip
    MetricBucket.objects.create(model=model_a, bucket_start=start - 10 * M, received=10_000)
    usual = usual_received(model_ids=[model_a.pk], starts=[start])
    assert usual == {(model_a.pk, start): 40.0}
    # Too little history: no usual level.
    assert usual_received(model_ids=[model_a.pk], starts=[start + dt.timedelta(hours=1)]) == {}
    figures = rules.BucketFigures(start, received=4, usual_received=40.0)
    assert rules.metric_value("received_vs_usual", [figures], 5) == 0.1
    quiet = rules.BucketFigures(start, received=0, usual_received=1.0)  # hardly sends: unjudged
    assert rules.metric_value("received_vs_usual", [quiet], 5) is None

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections
from django.test import override_settings

from reviewapp.core.audit import Actor
from reviewapp.dashboards.models import (
    MetricBucket,
    ModelRollup,
    ModelTotal,
    ReviewerDay,
    RollupWatermark,
)
from reviewapp.dashboards.services import rollups_fold, rollups_rebuild
from reviewapp.dashboards.stats import TTD_EDGES_SECONDS, ttd_bin
from reviewapp.models import Decision

from .conftest import T0, make_decision, make_item, make_prediction, reviewed

NOW = T0 + dt.timedelta(days=1)
H = dt.timedelta(hours=1)


def rollup(model, start):
    return ModelRollup.objects.get(model=model, bucket_start=start)


def snapshot():
    return sorted(
        (
            r.model_id,
            r.bucket_start,
            r.ingested,
            r.routed,
            r.passed,
            r.decided,
            r.accepted,
            r.overridden,
            r.escalated,
            r.deferred,
            r.sla_breaches,
            tuple(r.ttd_bins),
            tuple(r.calibration_decided),
            tuple(r.calibration_agreed),
            tuple(sorted(r.reasons.items())),
        )
        for r in ModelRollup.objects.all()
    )


def test_predictions_count_in_the_bucket_they_arrived_in(model_a, model_b):
    for minute in (0, 10, 59):
        make_prediction(model_a, received_at=T0 + dt.timedelta(minutes=minute))
    make_prediction(model_a, received_at=T0 + dt.timedelta(minutes=20), routed=False)
    make_prediction(model_a, received_at=T0 + H, reasons=("low_confidence", "ood_above_limit"))
    make_prediction(model_b, received_at=T0, routed=False)

    result = rollups_fold(now=NOW)

    assert result.predictions == 6
    first = rollup(model_a, T0)
    assert (first.ingested, first.routed, first.passed) == (4, 3, 1)
    assert first.reasons == {"low_confidence": 3}
    second = rollup(model_a, T0 + H)
    assert second.reasons == {"low_confidence": 1, "ood_above_limit": 1}
    assert (rollup(model_b, T0).ingested, rollup(model_b, T0).routed) == (1, 0)
    total = ModelTotal.objects.get(model=model_a)
    assert (total.ingested, total.routed, total.passed) == (5, 4, 1)


def test_fold_is_incremental_and_idempotent(model_a, ana):
    reviewed(model_a, ana, received_at=T0, after=dt.timedelta(minutes=5))
    rollups_fold(now=NOW)
    once = snapshot()

    again = rollups_fold(now=NOW)  # nothing new: nothing changes
    assert again.rows == 0
    assert snapshot() == once

    # New rows, in the same and in a new bucket, are added on top.
    reviewed(
        model_a,
        ana,
        received_at=T0 + dt.timedelta(minutes=30),
        after=dt.timedelta(minutes=20),
        action=Decision.Action.OVERRIDE,
    )
    make_prediction(model_a, received_at=T0 + 3 * H, routed=False)
    result = rollups_fold(now=NOW)
    assert (result.predictions, result.decisions) == (2, 1)
    first = rollup(model_a, T0)
    assert (first.ingested, first.routed, first.decided, first.accepted, first.overridden) == (
        2,
        2,
        2,
        1,
        1,
    )
    assert rollup(model_a, T0 + 3 * H).passed == 1
    assert ModelTotal.objects.get(model=model_a).decided == 2
    assert rollups_fold(now=NOW).rows == 0
    assert ModelTotal.objects.get(model=model_a).ingested == 3


def test_small_batches_give_the_same_figures_as_one_big_one(model_a, ana):
    for i in range(7):
        reviewed(
            model_a,
            ana,
            received_at=T0 + i * dt.timedelta(minutes=20),
            after=dt.timedelta(minutes=i + 1),
        )
    result = rollups_fold(now=NOW, batch_size=2)
    assert result.batches > 3 and result.caught_up
    small = snapshot()
    rollups_rebuild(actor=Actor.system("tests"))
    rollups_fold(now=NOW, batch_size=1000)
    assert snapshot() == small


def test_fold_stops_at_the_first_prediction_not_yet_routed(model_a):
    make_prediction(model_a, received_at=T0)
    waiting = make_prediction(model_a, received_at=T0, routed=None)
    make_prediction(model_a, received_at=T0)

    assert rollups_fold(now=NOW).predictions == 1
    assert RollupWatermark.objects.get().last_prediction_id == waiting.pk - 1

    # The router gets to it; the next fold takes it and the one behind it.
    waiting.status, waiting.routed, waiting.reason_codes = "passed", False, []
    waiting.routed_at = T0
    waiting.save()
    assert rollups_fold(now=NOW).predictions == 2
    assert rollup(model_a, T0).ingested == 3


@override_settings(DASHBOARD_SETTLE_SECONDS=30)
def test_rows_younger_than_the_settle_time_wait(model_a, ana):
    now = T0 + dt.timedelta(minutes=10)
    make_prediction(model_a, received_at=now - dt.timedelta(seconds=5))
    assert rollups_fold(now=now).predictions == 0
    assert rollups_fold(now=now + dt.timedelta(seconds=40)).predictions == 1


def test_decisions_wait_for_their_undo_grace_and_undone_ones_never_count(model_a, ana):
    item = make_item(make_prediction(model_a, received_at=T0))
    make_decision(
        item,
        ana,
        decided_at=T0 + dt.timedelta(minutes=3),
        undone_at=T0 + dt.timedelta(minutes=3, seconds=2),
    )
    late = make_decision(
        item,
        ana,
        action=Decision.Action.OVERRIDE,
        decided_at=T0 + dt.timedelta(minutes=4),
        deliver_after=T0 + dt.timedelta(minutes=30),
    )
    fold_at = T0 + dt.timedelta(minutes=10)
    result = rollups_fold(now=fold_at)
    assert result.decisions == 1  # the undone one is read (and skipped); the other waits
    assert rollup(model_a, T0).decided == 0
    assert RollupWatermark.objects.get().last_decision_id == late.pk - 1

    rollups_fold(now=T0 + dt.timedelta(hours=2))
    row = rollup(model_a, T0)
    assert (row.decided, row.accepted, row.overridden) == (1, 0, 1)


def test_escalations_and_deferrals_are_counted_but_are_not_dispositions(model_a, ana, ravi):
    item = make_item(make_prediction(model_a, received_at=T0))
    make_decision(item, ana, action=Decision.Action.DEFER, decided_at=T0 + dt.timedelta(minutes=1))
    make_decision(
        item, ana, action=Decision.Action.ESCALATE, decided_at=T0 + dt.timedelta(minutes=2)
    )
    make_decision(
        item, ravi, action=Decision.Action.ACCEPT, decided_at=T0 + dt.timedelta(minutes=40)
    )
    rollups_fold(now=NOW)
    row = rollup(model_a, T0)
    assert (row.deferred, row.escalated, row.decided, row.accepted) == (1, 1, 1, 1)
    # Only the final decision has a time to disposition: 40 minutes after arrival.
    assert sum(row.ttd_bins) == 1
    assert row.ttd_bins[ttd_bin(40 * 60)] == 1
    assert row.ttd_sum_seconds == pytest.approx(2400)
    days = {
        (d.reviewer.username, d.decided, d.escalated, d.deferred) for d in ReviewerDay.objects.all()
    }
    assert days == {("ana", 0, 1, 1), ("ravi", 1, 0, 0)}


def test_time_to_disposition_bins(model_a, ana):
    for minutes in (1, 3, 3, 50, 500):
        reviewed(model_a, ana, received_at=T0, after=dt.timedelta(minutes=minutes))
    rollups_fold(now=NOW)
    bins = ModelTotal.objects.get(model=model_a).ttd_bins
    assert len(bins) == len(TTD_EDGES_SECONDS) + 1
    assert bins[ttd_bin(60)] == 1 and bins[ttd_bin(180)] == 2
    assert bins[ttd_bin(3000)] == 1 and bins[ttd_bin(30000)] == 1


def test_calibration_counts_agreement_per_confidence_bucket(model_a, ana):
    # 0.6-0.7: 3 accepted, 1 overridden. 0.9-1.0: 1 accepted. 0.2-0.3: 1 overridden.
    for conf, action in [
        (0.61, "accept"),
        (0.65, "accept"),
        (0.69, "accept"),
        (0.62, "override"),
        (0.95, "accept"),
        (0.25, "override"),
    ]:
        reviewed(
            model_a,
            ana,
            received_at=T0,
            after=dt.timedelta(minutes=2),
            action=action,
            confidence=conf,
        )
    # Escalations are not judgements of the model and stay out of calibration.
    item = make_item(make_prediction(model_a, received_at=T0, confidence=0.63))
    make_decision(item, ana, action="escalate", decided_at=T0 + dt.timedelta(minutes=1))
    rollups_fold(now=NOW)
    row = rollup(model_a, T0)
    assert row.calibration_decided == [0, 0, 1, 0, 0, 0, 4, 0, 0, 1]
    assert row.calibration_agreed == [0, 0, 0, 0, 0, 0, 3, 0, 0, 1]


def test_breaches_are_counted_once_each_even_with_equal_stamps(model_a, model_b):
    stamp = T0 + dt.timedelta(minutes=70)
    items = [make_item(make_prediction(m, received_at=T0)) for m in (model_a, model_a, model_b)]
    for item in items:
        item.sla_breached_at = stamp
        item.save(update_fields=["sla_breached_at"])
    assert rollups_fold(now=NOW, batch_size=2).breaches == 3
    assert rollup(model_a, T0 + H).sla_breaches == 2
    assert rollup(model_b, T0 + H).sla_breaches == 1
    late = make_item(make_prediction(model_b, received_at=T0))
    late.sla_breached_at = stamp  # same stamp, higher id: still new
    late.save(update_fields=["sla_breached_at"])
    assert rollups_fold(now=NOW).breaches == 1
    assert rollups_fold(now=NOW).breaches == 0
    assert ModelTotal.objects.get(model=model_b).sla_breaches == 2


def test_reviewer_days_are_utc_days(model_a, ana):
    reviewed(model_a, ana, received_at=T0, after=dt.timedelta(minutes=5))
    reviewed(model_a, ana, received_at=T0, after=dt.timedelta(hours=16))  # next UTC day
    rollups_fold(now=NOW + dt.timedelta(days=1))
    assert sorted((d.day.isoformat(), d.decided) for d in ReviewerDay.objects.all()) == [
        ("2026-11-20", 1),
        ("2026-11-21", 1),
    ]


def test_the_beat_task_folds(model_a, settings):
    from reviewapp.dashboards.tasks import fold_rollups

    make_prediction(model_a, received_at=T0)
    assert fold_rollups.apply().get() == 1
    assert fold_rollups.apply().get() == 0
    assert "fold-dashboard-rollups" in settings.CELERY_BEAT_SCHEDULE


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_folds_count_every_row_exactly_once(model_a, ana):
    for i in range(300):
        reviewed(
            model_a,
            ana,
            received_at=T0 + dt.timedelta(minutes=i % 180),
            after=dt.timedelta(minutes=3),
        )
    barrier = threading.Barrier(4)
    errors = []

    def run():
        try:
            barrier.wait()
            rollups_fold(now=NOW, batch_size=40)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = ModelTotal.objects.get(model=model_a)
    assert (total.ingested, total.decided) == (300, 300)
    assert sum(r.ingested for r in ModelRollup.objects.filter(model=model_a)) == 300
    assert sum(sum(r.ttd_bins) for r in ModelRollup.objects.filter(model=model_a)) == 300
    fine = MetricBucket.objects.filter(model=model_a)
    assert sum(b.received for b in fine) == sum(b.accepted for b in fine) == 300


def test_rebuild_command_refolds_everything_with_a_new_bucket_width(model_a, settings):
    from django.core.management import call_command

    make_prediction(model_a, received_at=T0 + dt.timedelta(minutes=40))
    rollups_fold(now=NOW)
    assert rollup(model_a, T0).ingested == 1
    settings.DASHBOARD_BUCKET_MINUTES = 30
    call_command("dashboards_rebuild", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert RollupWatermark.objects.get().bucket_minutes == 30
    assert rollup(model_a, T0 + dt.timedelta(minutes=30)).ingested == 1
    assert not ModelRollup.objects.filter(bucket_start=T0).exists()

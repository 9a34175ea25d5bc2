"""Rollback triggers: the beat check on real 5-minute buckets, once, as the system, with the
values that fired it; the window closes when a newer version is applied; and the same path
through a real worker and beat."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reviewapp.core.exceptions import ServiceError
from reviewapp.core.models import AuditEvent, Notification
from reviewapp.dashboards.models import MetricBucket, RollupWatermark
from reviewapp.dashboards.stats import bucket_floor
from reviewapp.governance import services, tasks
from reviewapp.governance.models import ChangeRequest, PolicyVersion
from reviewapp.governance.services import notices
from tests import processes
from tests.factories import DEFAULT_RULES, make_policy

from .cr_helpers import approve, proposal, submitted

FIVE = dt.timedelta(minutes=5)
OVERRIDE_30 = {"metric": "override_rate", "op": ">", "bound": 0.15, "duration_minutes": 30}


def applied_with_triggers(model, proposer, committee, triggers, buckets_ago=12):
    """v2 applied with ``triggers``, its apply moved ``buckets_ago`` buckets into the past,
    two minutes into a bucket (so the bucket it falls in mixes v1's traffic)."""
    cr, digest = submitted(model, proposer, rollback_triggers=triggers)
    approve(cr, committee[0], digest)
    cr = approve(cr, committee[1], digest)
    assert cr.status == "applied" and cr.applied_version == 2
    applied_at = bucket_floor(timezone.now(), 5) - buckets_ago * FIVE + dt.timedelta(minutes=2)
    ChangeRequest.objects.filter(pk=cr.pk).update(applied_at=applied_at)
    cr.refresh_from_db()
    return cr


def folded(at=None):
    """The fold has run now (so every bucket that ended before now is complete)."""
    RollupWatermark.objects.update_or_create(
        name="main", defaults={"folded_at": at or timezone.now()}
    )


def buckets(model, since, rates):
    """One bucket per rate from the bucket that holds ``since``: 20 decisions, the share
    ``rate`` overridden."""
    start = bucket_floor(since, 5)
    for i, rate in enumerate(rates):
        overridden = round(rate * 20)
        MetricBucket.objects.update_or_create(
            model=model,
            bucket_start=start + i * FIVE,
            defaults={"accepted": 20 - overridden, "overridden": overridden},
        )


def complete_buckets_since(cr) -> int:
    """How many complete buckets there are from the apply's bucket to now."""
    end = bucket_floor(timezone.now() - dt.timedelta(seconds=20), 5)
    return (end - bucket_floor(cr.applied_at, 5)) // FIVE


@pytest.mark.django_db
def test_a_trigger_that_holds_rolls_back_once_as_the_system(
    fraud_model, proposer, committee, django_capture_on_commit_callbacks
):
    cr = applied_with_triggers(fraud_model, proposer, committee, [OVERRIDE_30])
    n = complete_buckets_since(cr)
    buckets(fraud_model, cr.applied_at, [0.3] * (n + 1))
    folded()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.check_rollback_triggers() == 1

    rollback = ChangeRequest.objects.get(is_emergency=True)
    assert rollback.proposer is None and rollback.restores_version == 1
    assert rollback.status == "applied" and rollback.applied_version == 3
    assert "override_rate > 0.15 for 30 min" in rollback.reason
    active = PolicyVersion.objects.get(model_slug="card-fraud", is_active=True)
    assert active.version == 3 and active.rules == DEFAULT_RULES  # v1 restored, as v3
    assert active.created_by is None
    cr.refresh_from_db()
    assert cr.triggers_fired_at is not None

    event = AuditEvent.objects.get(verb="governance.change_request.rolled_back")
    assert event.actor_type == "system" and event.actor_label == "rollback-trigger"
    assert event.data["trigger"] == OVERRIDE_30 and event.data["source_request"] == cr.pk
    values = event.data["finding"]["values"]
    assert len(values) == 6 and {v["value"] for v in values} == {0.3}  # what fired it
    fired = AuditEvent.objects.get(verb="governance.change_request.trigger_fired")
    assert fired.target_id == str(cr.pk) and fired.after["rollback"] == rollback.pk
    # The committee and the people of the rolled-back request are told.
    told = set(
        Notification.objects.filter(kind=notices.EMERGENCY_ROLLBACK).values_list(
            "recipient__username", flat=True
        )
    )
    assert told == {"cora", "cole", "cleo", "sam"}
    # It needs a ratification like a lead's.
    assert rollback.ratification_due is not None

    assert tasks.check_rollback_triggers() == 0  # once
    assert ChangeRequest.objects.filter(is_emergency=True).count() == 1


@pytest.mark.django_db
def test_within_the_bound_nothing_happens(fraud_model, proposer, committee):
    cr = applied_with_triggers(fraud_model, proposer, committee, [OVERRIDE_30])
    buckets(fraud_model, cr.applied_at, [0.1] * (complete_buckets_since(cr) + 1))
    folded()
    assert tasks.check_rollback_triggers() == 0
    cr.refresh_from_db()
    assert cr.triggers_fired_at is None
    assert PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).version == 2


@pytest.mark.django_db
def test_it_must_hold_for_the_whole_duration(fraud_model, proposer, committee):
    cr = applied_with_triggers(fraud_model, proposer, committee, [OVERRIDE_30])
    n = complete_buckets_since(cr)
    rates = [0.5] * (n + 1)
    rates[n - 1] = 0.1  # one bucket inside the last 30 minutes within the bound
    buckets(fraud_model, cr.applied_at, rates)
    folded()
    assert tasks.check_rollback_triggers() == 0


@pytest.mark.django_db
def test_the_bucket_of_the_apply_and_earlier_ones_do_not_count(fraud_model, proposer, committee):
    trigger = {"metric": "override_rate", "op": ">", "bound": 0.15, "duration_minutes": 5}
    cr = applied_with_triggers(fraud_model, proposer, committee, [trigger], buckets_ago=1)
    # The bucket holding the apply (mostly v1's traffic), and the one before it, are past the
    # bound; no complete bucket after the apply exists yet.
    buckets(fraud_model, cr.applied_at - FIVE, [0.9, 0.9])
    folded()
    assert tasks.check_rollback_triggers() == 0


@pytest.mark.django_db
def test_a_newer_version_closes_the_window(fraud_model, proposer, committee):
    cr = applied_with_triggers(fraud_model, proposer, committee, [OVERRIDE_30])
    buckets(fraud_model, cr.applied_at, [0.3] * (complete_buckets_since(cr) + 1))
    folded()
    make_policy(fraud_model, proposal(min_confidence=0.61))  # v3, by another path
    assert tasks.check_rollback_triggers() == 0
    assert not ChangeRequest.objects.filter(is_emergency=True).exists()


@pytest.mark.django_db
def test_a_stopped_fold_never_fires(fraud_model, proposer, committee):
    cr = applied_with_triggers(fraud_model, proposer, committee, [OVERRIDE_30])
    buckets(fraud_model, cr.applied_at, [0.3] * (complete_buckets_since(cr) + 1))
    folded(at=timezone.now() - dt.timedelta(minutes=40))  # the fold stopped 40 minutes ago
    assert tasks.check_rollback_triggers() == 0


@pytest.mark.django_db
def test_a_second_trigger_fires_when_the_first_does_not(fraud_model, proposer, committee):
    queue = {"metric": "open_queue", "op": ">", "bound": 5000, "duration_minutes": 10}
    cr = applied_with_triggers(fraud_model, proposer, committee, [OVERRIDE_30, queue])
    n = complete_buckets_since(cr)
    start = bucket_floor(cr.applied_at, 5)
    for i in range(n + 1):
        MetricBucket.objects.create(
            model=fraud_model, bucket_start=start + i * FIVE, accepted=20, open_queue=6000
        )
    folded()
    assert tasks.check_rollback_triggers() == 1
    event = AuditEvent.objects.get(verb="governance.change_request.trigger_fired")
    assert event.data["trigger"] == queue
    assert {v["value"] for v in event.data["finding"]["values"]} == {6000.0}


@pytest.mark.django_db
def test_triggers_name_a_known_metric(fraud_model, proposer):
    with pytest.raises(ServiceError) as caught:
        services.change_request_create(
            model_slug="card-fraud", user=proposer, document=proposal(), rationale="Why.",
            rollback_triggers=[{**OVERRIDE_30, "metric": "happiness"}],
        )  # fmt: skip
    assert "rollback_triggers[0].metric" in caught.value.errors


start_worker = processes.start_worker  # the fixture


@pytest.mark.worker
def test_a_real_beat_and_worker_roll_back_when_a_trigger_holds(
    start_worker, fraud_model, proposer, committee
):
    cr = applied_with_triggers(fraud_model, proposer, committee, [OVERRIDE_30])
    buckets(fraud_model, cr.applied_at, [0.3] * (complete_buckets_since(cr) + 1))
    folded()
    worker = start_worker(
        beat=True,
        env={
            "GOVERNANCE_TRIGGER_INTERVAL_SECONDS": "1",
            # Keep the fold from moving the watermark meanwhile (it would only move it on).
            "DASHBOARD_FOLD_INTERVAL_SECONDS": "3600",
        },
    )
    processes.wait_until(
        lambda: ChangeRequest.objects.filter(is_emergency=True, status="applied").exists(),
        timeout=60,
        message=f"the trigger rolled back; worker log:\n{worker.log()}",
    )
    worker.stop()
    assert ChangeRequest.objects.filter(is_emergency=True).count() == 1
    assert PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).version == 3
    cr.refresh_from_db()
    assert cr.triggers_fired_at is not None

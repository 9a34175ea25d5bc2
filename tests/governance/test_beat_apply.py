"""A scheduled change request is applied by a real Celery beat and worker at its time, once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reviewapp.governance.models import ChangeRequest, PolicyVersion
from tests import processes

from .cr_helpers import approve, submitted

start_worker = processes.start_worker  # the fixture


@pytest.mark.worker
def test_a_real_beat_applies_a_scheduled_request_at_its_time_exactly_once(
    start_worker, fraud_model, proposer, committee
):
    cr, digest = submitted(
        fraud_model, proposer, scheduled_for=timezone.now() + dt.timedelta(hours=1)
    )
    approve(cr, committee[0], digest)
    cr = approve(cr, committee[1], digest)
    assert cr.status == ChangeRequest.Status.SCHEDULED
    # The submit queued the evidence task; the helpers above stored evidence already (a second
    # evidence would lapse the votes), so the worker starts on an empty broker.
    processes.purge_broker()
    worker = start_worker(beat=True, env={"GOVERNANCE_APPLY_INTERVAL_SECONDS": "1"})
    # Not before its time: the beat runs, the request waits.
    processes.wait_until(
        lambda: worker.log(tail=100_000).count("governance.apply_due") >= 2,
        timeout=60,
        message=f"the beat ran apply_due; worker log:\n{worker.log(tail=400)}",
    )
    assert ChangeRequest.objects.get(pk=cr.pk).status == ChangeRequest.Status.SCHEDULED
    ChangeRequest.objects.filter(pk=cr.pk).update(scheduled_for=timezone.now())
    try:
        processes.wait_until(
            lambda: ChangeRequest.objects.get(pk=cr.pk).status == ChangeRequest.Status.APPLIED,
            timeout=60,
            message="the beat applied the request",
        )
    except BaseException:
        print(worker.log(tail=400))  # the log as it is now, not as it was before the wait
        raise
    # A few more beats change nothing: one new version, made by this request.
    processes.wait_until(
        lambda: worker.log(tail=100_000).count("governance.apply_due") >= 6,
        timeout=60,
        message=f"the beat kept running; worker log:\n{worker.log()}",
    )
    worker.stop()
    versions = PolicyVersion.objects.filter(model_slug="card-fraud")
    assert versions.count() == 2
    assert versions.get(is_active=True).change_request_id == cr.pk

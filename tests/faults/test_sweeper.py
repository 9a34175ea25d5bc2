"""The sweeper re-enqueues inbox rows whose routing task never reached a worker."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reviewapp.models import Prediction
from reviewapp.services import ingest
from tests.factories import envelope_for

from .helpers import assert_all_routed_exactly_once, post_batch


@pytest.mark.django_db
def test_inbox_sweep_takes_only_stale_unrouted_rows(
    api, fraud_model, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.INGEST_SWEEP_AFTER_SECONDS = 60
    published: list[list[int]] = []
    monkeypatch.setattr(ingest, "enqueue_routing", lambda ids, **kw: published.append(list(ids)))
    ids = []
    for i in range(3):
        response = api.post(
            "/api/v1/predictions", envelope_for(fraud_model, f"sw-{i}"), format="json"
        )
        ids.append(response.json()["id"])
    stale, fresh, done = ids
    Prediction.objects.filter(id=stale).update(enqueued_at=timezone.now() - dt.timedelta(minutes=5))
    Prediction.objects.filter(id=done).update(
        status=Prediction.Status.PASSED, enqueued_at=timezone.now() - dt.timedelta(minutes=5)
    )
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert ingest.inbox_sweep() == 1
    assert published == [[stale]]
    row = Prediction.objects.get(id=stale)
    assert timezone.now() - row.enqueued_at < dt.timedelta(seconds=5)  # not again at once
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest.inbox_sweep() == 0
    assert Prediction.objects.get(id=fresh).status == Prediction.Status.RECEIVED


@pytest.mark.faults
@pytest.mark.worker
def test_sweeper_routes_rows_whose_enqueue_was_lost(start_worker, api, fraud_model, monkeypatch):
    # The request commits, then its publish silently vanishes (a crash between commit and send).
    monkeypatch.setattr(ingest, "enqueue_routing", lambda ids, **kw: True)
    accepted = post_batch(api, fraud_model, "lost", 120)
    monkeypatch.undo()

    worker = start_worker(beat=True, sweep_after=2, sweep_interval=1)
    assert_all_routed_exactly_once(accepted, timeout=40, worker=worker)

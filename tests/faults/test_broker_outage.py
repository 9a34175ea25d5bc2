"""Stop the broker while producers post: ingest still answers, the sweeper catches up."""

from __future__ import annotations

import time

import pytest

from reviewapp.models import Prediction
from tests.factories import envelope_for

from .helpers import assert_all_routed_exactly_once, post_batch

pytestmark = [pytest.mark.faults, pytest.mark.worker]


def test_broker_outage_while_posting_loses_nothing(private_broker, start_worker, api, fraud_model):
    accepted = post_batch(api, fraud_model, "up", 200)  # published to redis, no worker yet

    private_broker.kill()  # a crash: the queued messages above are gone with it
    for n in range(3):
        started = time.monotonic()
        accepted += post_batch(api, fraud_model, f"down-{n}", 100)
        assert time.monotonic() - started < 3, "a batch must not wait on a dead broker"
    for i in range(5):
        started = time.monotonic()
        response = api.post(
            "/api/v1/predictions", envelope_for(fraud_model, f"down-single-{i}"), format="json"
        )
        elapsed = time.monotonic() - started
        assert response.status_code == 202, response.content
        assert elapsed < 1.5, f"enqueue hung for {elapsed:.1f} s with the broker down"
        accepted.append(response.json()["id"])
    assert Prediction.objects.filter(id__in=accepted, status="received").count() == len(accepted)

    private_broker.start()
    worker = start_worker(beat=True, sweep_after=2, sweep_interval=1)
    assert_all_routed_exactly_once(accepted, timeout=45, worker=worker)

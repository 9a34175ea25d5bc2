"""kill -9 the worker while it routes: nothing is lost and nothing is routed twice."""

from __future__ import annotations

import time

import pytest

from tests.processes import received_count, routed_counts

from .helpers import assert_all_routed_exactly_once, post_batch

pytestmark = [pytest.mark.faults, pytest.mark.worker]


def test_sigkill_mid_batch_then_restart_routes_everything_once(
    start_worker, api, fraud_model, settings
):
    # Small routing tasks: many messages in flight (prefetched, running, queued) at the kill.
    settings.INGEST_ROUTE_CHUNK = 40
    accepted: list[int] = []
    for n in range(3):
        accepted += post_batch(api, fraud_model, f"before-{n}", 400)

    first = start_worker(concurrency=2)
    deadline = time.monotonic() + 40
    while not routed_counts() and time.monotonic() < deadline:
        assert first.is_alive(), first.log()
        time.sleep(0.02)
    first.kill()
    routed_at_kill = len(routed_counts())
    assert 0 < routed_at_kill < len(accepted), (
        f"the kill must land mid-batch ({routed_at_kill} of {len(accepted)} routed)"
    )
    assert received_count(accepted) > 0

    # Traffic keeps coming while no worker runs; its messages queue up (or are lost later).
    for n in range(2):
        accepted += post_batch(api, fraud_model, f"after-{n}", 200)

    second = start_worker(beat=True, sweep_after=3, sweep_interval=1, concurrency=2)
    assert_all_routed_exactly_once(accepted, timeout=50, worker=second)

"""Coalesced routing: one "route model X" message per window per process, with a trailing
publish, and a routing task that takes every waiting row of the model in chunks."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection

from reviewapp.core.audit import Actor
from reviewapp.core.models import AuditEvent
from reviewapp.models import Prediction, ReviewItem
from reviewapp.services import ingest
from reviewapp.services.ingest import ROUTE_MODEL_TASK, ROUTE_TASK, prediction_batch_ingest
from reviewapp.services.route_coalesce import RouteCoalescer
from reviewapp.services.routing import predictions_route, predictions_route_waiting
from tests.factories import MLModelFactory, envelope_for, make_policy


# --- the coalescer on its own -------------------------------------------------------------------
class Recorder:
    def __init__(self, ok: bool = True) -> None:
        self.calls: list[tuple[int, list[int], bool, float]] = []
        self.ok = ok
        self.event = threading.Event()

    def __call__(self, model_id: int, ids: list[int], *, deferred: bool) -> bool:
        self.calls.append((model_id, list(ids), deferred, time.monotonic()))
        if deferred:
            self.event.set()
        return self.ok


def test_the_first_announcement_publishes_at_once():
    publish = Recorder()
    coalescer = RouteCoalescer(publish, window_seconds=0.05)
    assert coalescer.announce(7, [1]) is True
    assert publish.calls[0][:3] == (7, [1], False)


def test_announcements_inside_the_window_leave_one_trailing_publish():
    publish = Recorder()
    coalescer = RouteCoalescer(publish, window_seconds=0.2)
    opened = time.monotonic()
    coalescer.announce(7, [1])
    coalescer.announce(7, [2])
    coalescer.announce(7, [3])
    assert len(publish.calls) == 1, "announcements inside the window publish nothing now"
    assert publish.event.wait(5), "the trailing publish never came"
    assert len(publish.calls) == 2
    model_id, ids, deferred, at = publish.calls[1]
    assert (model_id, ids, deferred) == (7, [2, 3], True)
    assert at - opened >= 0.19, "the trailing publish waits for the window to close"


def test_each_model_has_its_own_window():
    publish = Recorder()
    coalescer = RouteCoalescer(publish, window_seconds=10)
    coalescer.announce(7, [1])
    coalescer.announce(8, [2])
    assert [(m, ids) for m, ids, _, _ in publish.calls] == [(7, [1]), (8, [2])]


def test_after_the_window_an_announcement_publishes_at_once_again():
    publish = Recorder()
    coalescer = RouteCoalescer(publish, window_seconds=0.01)
    coalescer.announce(7, [1])
    time.sleep(0.03)
    coalescer.announce(7, [2])
    assert [ids for _, ids, deferred, _ in publish.calls] == [[1], [2]]
    assert not any(deferred for _, _, deferred, _ in publish.calls)


def test_a_failed_publish_is_reported_to_the_caller():
    coalescer = RouteCoalescer(Recorder(ok=False), window_seconds=0.05)
    assert coalescer.announce(7, [1]) is False


def test_flush_publishes_what_is_pending():
    publish = Recorder()
    coalescer = RouteCoalescer(publish, window_seconds=60)
    coalescer.announce(7, [1])
    coalescer.announce(7, [2])
    coalescer.flush()
    assert [(ids, deferred) for _, ids, deferred, _ in publish.calls] == [
        ([1], False),
        ([2], False),
    ]


def test_a_forked_child_starts_with_no_open_window(monkeypatch):
    publish = Recorder()
    coalescer = RouteCoalescer(publish, window_seconds=60)
    coalescer.announce(7, [1])
    monkeypatch.setattr("reviewapp.services.route_coalesce.os.getpid", lambda: -1)
    coalescer.announce(7, [2])
    assert [ids for _, ids, _, _ in publish.calls] == [[1], [2]]


# --- what ingest publishes ---------------------------------------------------------------------


@pytest.fixture
def published(monkeypatch, settings):
    """Capture what ingest publishes, with coalescing on (tests run Celery non-eager)."""
    settings.INGEST_ROUTE_COALESCE_MS = 200
    sent: list[tuple[str, list]] = []
    monkeypatch.setattr(ingest, "_broker_down_until", 0.0)
    monkeypatch.setattr(ingest, "_route_coalescer", None)
    monkeypatch.setattr(
        ingest,
        "task_publish_many",
        lambda name, args_list, fail_fast=False: sent.append((name, list(args_list))),
    )
    return sent


def post(api, ml_model, external_id: str):
    response = api.post(
        "/api/v1/predictions",
        json.dumps(envelope_for(ml_model, external_id)),
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    return response.json()["id"]


@pytest.mark.django_db
def test_single_requests_publish_one_message_per_window_per_model(
    api, fraud_model, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post(api, fraud_model, "one")
        post(api, fraud_model, "two")
        post(api, fraud_model, "three")
    assert published == [(ROUTE_MODEL_TASK, [[fraud_model.pk]])]
    deadline = time.monotonic() + 5
    while len(published) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert published == [(ROUTE_MODEL_TASK, [[fraud_model.pk]])] * 2, "one trailing message"


@pytest.mark.django_db
def test_a_large_batch_publishes_its_ids_in_chunks(
    fraud_model, published, settings, django_capture_on_commit_callbacks
):
    settings.INGEST_ROUTE_CHUNK = 2
    with django_capture_on_commit_callbacks(execute=True):
        results = prediction_batch_ingest(
            envelopes=[envelope_for(fraud_model, f"b{i}") for i in range(3)],
            account=None,
            actor=Actor.system("tests"),
        )
    ids = [r.id for r in results]
    assert published == [(ROUTE_TASK, [[ids[:2]], [ids[2:]]])]


@pytest.mark.django_db
def test_a_coalesced_publish_that_fails_leaves_the_row_to_the_sweeper(
    api, fraud_model, published, monkeypatch, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(ingest, "task_publish_many", down)
    with django_capture_on_commit_callbacks(execute=True):
        pk = post(api, fraud_model, "outage")
    row = Prediction.objects.get(pk=pk)
    assert row.status == Prediction.Status.RECEIVED
    assert row.enqueued_at is None, "marked for the sweeper's next pass"


@pytest.mark.django_db
def test_with_a_zero_window_every_request_publishes(
    api, fraud_model, published, settings, django_capture_on_commit_callbacks
):
    settings.INGEST_ROUTE_COALESCE_MS = 0
    with django_capture_on_commit_callbacks(execute=True):
        first = post(api, fraud_model, "z1")
        second = post(api, fraud_model, "z2")
    assert published == [(ROUTE_TASK, [[[first]]]), (ROUTE_TASK, [[[second]]])]


# --- the routing task's use case ---------------------------------------------------------------
def store(ml_model, *external_ids: str) -> list[int]:
    results = prediction_batch_ingest(
        envelopes=[{**envelope_for(ml_model, e), "confidence": 0.4} for e in external_ids],
        account=None,
        actor=Actor.system("tests"),
        enqueue=False,
    )
    return [r.id for r in results]


@pytest.mark.django_db
def test_routing_a_model_takes_all_its_waiting_rows_in_chunks(fraud_model):
    other = MLModelFactory(slug="other-model")
    make_policy(other)
    mine = store(fraud_model, *(f"m{i}" for i in range(5)))
    theirs = store(other, "o1")
    events_before = AuditEvent.objects.filter(verb="queue.prediction.routed").count()

    assert predictions_route_waiting(model_id=fraud_model.pk, chunk=2) == 5

    assert set(Prediction.objects.filter(pk__in=mine).values_list("status", flat=True)) == {
        Prediction.Status.IN_REVIEW
    }
    assert Prediction.objects.get(pk=theirs[0]).status == Prediction.Status.RECEIVED
    assert ReviewItem.objects.filter(prediction_id__in=mine).count() == 5
    routed = AuditEvent.objects.filter(verb="queue.prediction.routed").count() - events_before
    assert routed == 3, "one transaction and one event per chunk of 2"
    assert predictions_route_waiting(model_id=fraud_model.pk, chunk=2) == 0


@pytest.mark.django_db
def test_routing_a_model_stops_after_its_chunk_budget(fraud_model):
    store(fraud_model, *(f"c{i}" for i in range(5)))
    assert predictions_route_waiting(model_id=fraud_model.pk, chunk=2, max_chunks=1) == 2
    assert Prediction.objects.filter(status=Prediction.Status.RECEIVED).count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_workers_take_disjoint_chunks_of_one_model(fraud_model):
    """SKIP LOCKED: while one transaction holds the oldest chunk, another takes the next."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer")
    from django.db import connections, transaction

    ids = store(fraud_model, *(f"d{i}" for i in range(4)))
    holding = threading.Event()
    release = threading.Event()

    def hold_first_two() -> None:
        try:
            with transaction.atomic():
                list(
                    Prediction.objects.select_for_update()
                    .filter(pk__in=ids[:2])
                    .values_list("id", flat=True)
                )
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    worker = threading.Thread(target=hold_first_two)
    worker.start()
    try:
        assert holding.wait(10)
        assert predictions_route(model_id=fraud_model.pk, fill_to=10) == 2
        statuses = dict(Prediction.objects.filter(pk__in=ids).values_list("id", "status"))
        assert [statuses[pk] for pk in ids[:2]] == [Prediction.Status.RECEIVED] * 2
        assert [statuses[pk] for pk in ids[2:]] == [Prediction.Status.IN_REVIEW] * 2
    finally:
        release.set()
        worker.join(10)

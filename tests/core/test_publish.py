"""reviewapp.core.publish: tasks enqueued by registered name, after commit, eager in tests."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from celery import current_app

from reviewapp.celery import app as celery_app
from reviewapp.core.publish import task_publish, task_publish_many, task_publish_on_commit


@pytest.fixture
def ran(monkeypatch) -> list[tuple]:
    """Register a throwaway task on the project's app; records its calls."""
    calls: list[tuple] = []

    @celery_app.task(name="tests.publish_probe")
    def probe(*args):
        calls.append(args)
        if args == ("boom",):
            raise RuntimeError("task failed")

    yield calls
    celery_app.tasks.pop("tests.publish_probe", None)


class FakeProducer:
    def __init__(self, sent):
        self.sent = sent
        self.connection = self

    def ensure_connection(self, **kwargs):
        self.sent.append(("connect", kwargs))


@pytest.fixture
def sent(monkeypatch) -> list:
    """Capture what would reach the broker (send_task calls over one producer)."""
    log: list = []

    @contextmanager
    def producer_or_acquire(*args, **kwargs):
        yield FakeProducer(log)

    def send_task(name, args=None, **options):
        log.append((name, args, {k: v for k, v in options.items() if k != "producer"}))

    monkeypatch.setattr(celery_app, "producer_or_acquire", producer_or_acquire)
    monkeypatch.setattr(celery_app, "send_task", send_task)
    return log


def test_eager_runs_the_registered_task_by_name(eager, ran):
    task_publish_many("tests.publish_probe", [[1, 2], [3]])
    assert ran == [(1, 2), (3,)]


def test_eager_finds_a_project_task_not_yet_imported(eager, monkeypatch):
    calls = []
    from reviewapp.delivery import tasks

    monkeypatch.setattr(tasks.services, "deliveries_send_due", lambda: calls.append(1) or _Due())
    task_publish("failsafe.delivery_send")
    assert calls == [1]


class _Due:
    claimed = 0


def test_not_eager_sends_by_name_over_one_producer(sent):
    task_publish_many("failsafe.route_predictions", [[[1, 2]], [[3]]])
    assert sent == [
        ("failsafe.route_predictions", [[1, 2]], {}),
        ("failsafe.route_predictions", [[3]], {}),
    ]


def test_fail_fast_tries_the_broker_once_and_never_retries(sent):
    task_publish("failsafe.route_predictions", args=[[1]], fail_fast=True)
    assert sent == [
        ("connect", {"max_retries": 0}),
        ("failsafe.route_predictions", [[1]], {"retry": False}),
    ]


@pytest.mark.django_db
def test_on_commit_waits_for_the_commit(sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        task_publish_on_commit("failsafe.delivery_send")
        assert sent == []
    assert len(callbacks) == 1
    assert sent == [("failsafe.delivery_send", [], {})]


@pytest.mark.django_db
def test_a_broker_failure_after_commit_is_logged_not_raised(
    monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(celery_app, "producer_or_acquire", down)
    with django_capture_on_commit_callbacks(execute=True):
        task_publish_on_commit("failsafe.delivery_send")
    assert "Could not enqueue failsafe.delivery_send" in caplog.text


@pytest.mark.django_db
def test_eager_task_errors_propagate_after_commit(eager, ran, django_capture_on_commit_callbacks):
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        task_publish_on_commit("tests.publish_probe", args=["boom"])


def test_the_project_app_is_current_in_every_thread():
    # core.publish uses celery.current_app; Celery's Django fix-up makes the project's app the
    # default for threads that did not create it (threaded web servers).
    seen = []
    thread = threading.Thread(target=lambda: seen.append(current_app._get_current_object()))
    thread.start()
    thread.join()
    assert seen == [celery_app]


def test_every_task_name_services_publish_is_registered():
    from reviewapp.delivery.services import SEND_TASK
    from reviewapp.services.ingest import ROUTE_TASK

    celery_app.loader.import_default_modules()
    assert {ROUTE_TASK, SEND_TASK} <= set(celery_app.tasks)

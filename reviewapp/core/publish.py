"""Enqueue Celery tasks by their registered name, so services never import task modules.

Tasks import services (they are thin wrappers around them); services that import tasks back
make an import circle. A service names the task instead ("failsafe.route_predictions") and
publishes through here, after its transaction commits.

Celery's `send_task` ignores `task_always_eager`; unit tests rely on eager runs, so when
eager the task is looked up by name in the app's registry and applied in-process, as
`apply_async` would.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from celery import Celery, Task, current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def publish_is_eager() -> bool:
    """True when tasks run in-process as they are published (CELERY_TASK_ALWAYS_EAGER)."""
    return bool(current_app.conf.task_always_eager)


def task_publish(name: str, *, args: Sequence[Any] = (), fail_fast: bool = False) -> None:
    """Publish task `name` with positional `args` now (see task_publish_many)."""
    task_publish_many(name, [args], fail_fast=fail_fast)


def task_publish_many(
    name: str, args_list: Iterable[Sequence[Any]], *, fail_fast: bool = False
) -> None:
    """Publish task `name` now, one message per positional-argument list in `args_list`.

    Every message goes over one producer connection. With `fail_fast`, the broker gets one
    connection attempt and no publish retries, so a caller answering a request can note the
    outage and leave the work to a sweeper instead of waiting out kombu's retry loop; the
    broker's error is raised.
    """
    app: Celery = current_app._get_current_object()
    if app.conf.task_always_eager:
        task = _registered(app, name)
        for args in args_list:
            task.apply(args=list(args))
        return
    with app.producer_or_acquire() as producer:
        if fail_fast:
            producer.connection.ensure_connection(max_retries=0)
        for args in args_list:
            if fail_fast:
                app.send_task(name, args=list(args), producer=producer, retry=False)
            else:
                app.send_task(name, args=list(args), producer=producer)


def task_publish_on_commit(name: str, *, args: Sequence[Any] = ()) -> None:
    """Publish task `name` once the current transaction commits (at once outside one).

    A broker failure is logged, not raised: the transaction has committed, so whatever the task
    was for must also be reachable by a periodic sweep. In eager runs (tests) the task's own
    errors propagate as Celery's `task_eager_propagates` says.
    """

    def send() -> None:
        if current_app.conf.task_always_eager:
            task_publish(name, args=args)
            return
        try:
            task_publish(name, args=args)
        except Exception:  # noqa: BLE001 - any broker failure; a beat sweep catches up
            logger.warning("Could not enqueue %s; a periodic sweep will pick it up.", name)

    transaction.on_commit(send)


def _registered(app: Celery, name: str) -> Task:
    if name not in app.tasks:
        # Outside a worker the task modules are imported on demand (autodiscovery).
        app.loader.import_default_modules()
    return app.tasks[name]

"""Thin Celery tasks: load by id, check status, call a service. Redelivery is harmless."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections

from reviewapp.envelope import safe_text
from reviewapp.services.ingest import (
    ROUTE_MODEL_TASK,
    ROUTE_TASK,
    inbox_sweep,
    prediction_ingest_published,
)
from reviewapp.services.payloads import payload_partitions_ensure, payload_retention_apply
from reviewapp.services.routing import predictions_route, predictions_route_waiting
from reviewapp.services.sweeps import (
    queue_counts_refresh,
    review_deferred_wake,
    review_leases_expire,
    review_sla_sweep,
)

logger = logging.getLogger(__name__)
TRANSIENT = (OperationalError, InterfaceError)


@task_prerun.connect(weak=False, dispatch_uid="failsafe-db-connections-prerun")
@task_postrun.connect(weak=False, dispatch_uid="failsafe-db-connections-postrun")
def _recycle_db_connections(task: Any = None, **kwargs: Any) -> None:
    """Treat each task like a request: drop a connection that broke or outlived CONN_MAX_AGE.

    Celery's fix-up only recycles every CELERY_DB_REUSE_MAX tasks; this keeps a broken
    connection (database restarted) from failing every retry until then. Eager runs (tests,
    a caller's own transaction) keep their connection, as Celery's fix-up does.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()


@shared_task(
    name=ROUTE_TASK,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=8,
    ignore_result=True,
)
def route_predictions(ids: list[int]) -> int:
    fill_to = settings.INGEST_ROUTE_CHUNK if settings.INGEST_ROUTE_FILL else 0
    return predictions_route(ids=ids, fill_to=fill_to)


@shared_task(
    name=ROUTE_MODEL_TASK,
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=8,
    ignore_result=True,
)
def route_model(model_id: int) -> int:
    """Coalesced routing: every waiting row of this model, a chunk per transaction."""
    if isinstance(model_id, bool) or not isinstance(model_id, int):
        logger.warning("route_model ignored a message naming no model id: %r", model_id)
        return 0
    return predictions_route_waiting(model_id=model_id, chunk=settings.INGEST_ROUTE_CHUNK)


@shared_task(name="failsafe.sweep_inbox", acks_late=True, ignore_result=True)
def sweep_inbox() -> int:
    return inbox_sweep()


@shared_task(
    name="failsafe.ingest_prediction",
    acks_late=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=8,
    ignore_result=True,
)
def ingest_prediction(envelope: Any, service_account: str) -> int | None:
    """For producers that already run Celery: publish this task to the `ingest` queue."""
    try:
        return prediction_ingest_published(envelope=envelope, service_account=service_account)
    except DatabaseError:
        logger.exception("Could not store an envelope from %s", safe_text(str(service_account)))
        raise


# --- the review queue's beat tasks ----------------------------------------------------------
@shared_task(name="failsafe.review_expire_leases", acks_late=True, ignore_result=True)
def review_expire_leases() -> int:
    return review_leases_expire()


@shared_task(name="failsafe.review_sla_sweep", acks_late=True, ignore_result=True)
def review_sla_sweep_task() -> dict[str, int]:
    return review_sla_sweep()


@shared_task(name="failsafe.review_wake_deferred", acks_late=True, ignore_result=True)
def review_wake_deferred() -> int:
    return review_deferred_wake()


@shared_task(name="failsafe.review_count_queue", acks_late=True, ignore_result=True)
def review_count_queue() -> int:
    return queue_counts_refresh(only_if_due=True).took_ms


# --- issue 18 (payload): the payload table's partitions and retention (maintenance queue) ---
@shared_task(name="failsafe.payload_partitions_ensure", acks_late=True, ignore_result=True)
def payload_partitions_ensure_task() -> list[str]:
    return payload_partitions_ensure()


@shared_task(name="failsafe.payload_retention_apply", acks_late=True, ignore_result=True)
def payload_retention_apply_task() -> int:
    return len(payload_retention_apply())

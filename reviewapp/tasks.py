"""Thin Celery tasks: load by id, check status, call a service. Redelivery is harmless."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from celery import shared_task
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections

from reviewapp.core.audit import Actor
from reviewapp.envelope import parse_json, safe_text
from reviewapp.services.ingest import (
    check_envelopes,
    envelope_reject,
    inbox_sweep,
    model_catalogue,
    predictions_store,
)
from reviewapp.services.routing import predictions_route
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
    name="failsafe.route_predictions",
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
    """For producers that already run Celery: publish this task to the `ingest` queue.

    Same validation and permissions as POST /api/v1/predictions. An invalid envelope is kept
    as a rejected record (leads see it under Ingest → Rejected); a duplicate does nothing.
    """
    from reviewapp.models import ServiceAccount

    # Only a well-formed name reaches the query (a NUL byte would make PostgreSQL raise).
    name = service_account if isinstance(service_account, str) else ""
    account = (
        ServiceAccount.objects.filter(name=name, revoked_at__isnull=True).first()
        if re.fullmatch(r"[A-Za-z0-9_-]{1,100}", name)
        else None
    )
    if account is None:
        shown = safe_text(str(service_account))[:100]
        envelope_reject(
            envelope=envelope,
            errors={"service_account": [f"No active service account named '{shown}'."]},
            account_name=shown,
            status=403,
        )
        return None
    models = model_catalogue()
    # Celery's JSON decoder lets NaN / Infinity through as floats; re-parse so validation
    # names those fields instead of the database refusing them later.
    envelope, _ = parse_json(json.dumps(envelope, default=str).encode())
    results, valid = check_envelopes([envelope], account=account, models=models)
    if not valid:
        envelope_reject(
            envelope=envelope,
            errors=results[0].errors,
            account_name=account.name,
            status=results[0].http_status,
        )
        return None
    try:
        created = predictions_store(
            valid=valid,
            results=results,
            models=models,
            account=account,
            actor=Actor.service(account.name, account.pk),
            enqueue=False,
        )
    except DatabaseError:
        logger.exception("Could not store an envelope from %s", service_account)
        raise
    if created:
        predictions_route(ids=created)
    return results[0].id


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

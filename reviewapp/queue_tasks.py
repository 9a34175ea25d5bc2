"""Beat tasks of the review queue: thin wrappers around services that re-check state."""

from __future__ import annotations

from celery import shared_task

from reviewapp.services.review import (
    queue_counts_refresh,
    review_deferred_wake,
    review_leases_expire,
    review_sla_sweep,
)


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

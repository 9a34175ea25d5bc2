from __future__ import annotations

from celery import shared_task

from .services import metric_buckets_prune, rollups_fold


@shared_task(
    name="failsafe.fold_rollups",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=50,
    time_limit=60,
)
def fold_rollups() -> int:
    """Fold new rows into the dashboard rollups. Safe to run twice or concurrently: the fold
    locks its watermark, so a redelivered or overlapping run finds nothing left to count."""
    return rollups_fold().rows


@shared_task(
    name="failsafe.prune_metric_buckets",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=110,
    time_limit=120,
)
def prune_metric_buckets() -> int:
    """Drop 5-minute metric buckets past DASHBOARD_METRICS_RETENTION_DAYS (idempotent)."""
    return metric_buckets_prune()

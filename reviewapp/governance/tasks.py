"""Thin beat tasks: each calls one service, which re-checks every row (redelivery is harmless)."""

from __future__ import annotations

from celery import shared_task

from .services import (
    change_requests_apply_due,
    change_requests_expire,
    emergency_ratifications_overdue,
)


@shared_task(name="governance.apply_due", acks_late=True, ignore_result=True,
             soft_time_limit=50, time_limit=60)  # fmt: skip
def apply_due() -> int:
    """Apply scheduled change requests whose time has come (a stale one stays suspended)."""
    return len(change_requests_apply_due())


@shared_task(name="governance.expire_requests", acks_late=True, ignore_result=True,
             soft_time_limit=110, time_limit=120)  # fmt: skip
def expire_requests() -> int:
    return len(change_requests_expire())


@shared_task(name="governance.ratifications_overdue", acks_late=True, ignore_result=True,
             soft_time_limit=110, time_limit=120)  # fmt: skip
def ratifications_overdue() -> int:
    return len(emergency_ratifications_overdue())

"""Thin Celery tasks for the catalog."""

from __future__ import annotations

from celery import shared_task

from .services import stewardship_remind


@shared_task(name="catalog.remind_stewards", acks_late=True, ignore_result=True)
def remind_stewards() -> int:
    # Idempotent: the service reminds each overdue object at most once a week.
    return stewardship_remind()

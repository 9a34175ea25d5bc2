"""Thin Celery tasks for playbooks and incidents (load, re-check, call a service)."""

from __future__ import annotations

from celery import shared_task

from .incidents.actions import overdue_reminders_send


@shared_task(name="playbooks.action_item_reminders", acks_late=True, ignore_result=True,
             soft_time_limit=240, time_limit=300)  # fmt: skip
def action_item_reminders() -> int:
    """Tell owners of overdue action items, once each (the service re-checks every row and
    asks the audit log whether it already reminded, so a redelivery reminds nobody twice)."""
    return overdue_reminders_send()

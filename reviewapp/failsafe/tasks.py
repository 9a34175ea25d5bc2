"""The fail-safe app's Celery tasks: thin, one service call each (redelivery is harmless)."""

from __future__ import annotations

from celery import shared_task

# --- modes ---
from .services.reminders import containment_reminders_send


@shared_task(name="failsafe.containment_reminders", acks_late=True, ignore_result=True,
             soft_time_limit=50, time_limit=60)  # fmt: skip
def containment_reminders() -> int:
    """Remind owners and leads of containments past their review-by time (each at most once
    per FAILSAFE_REMINDER_MINUTES; the service re-checks every row it takes)."""
    return containment_reminders_send()

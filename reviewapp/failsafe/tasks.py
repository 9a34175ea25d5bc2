"""The fail-safe app's Celery tasks: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

# --- alerts ---
from .services import alert_notices
from .services.profiles import feature_profiles_refresh
from .services.reminders import containment_reminders_send


@shared_task(
    name=alert_notices.WEBHOOK_TASK,
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def send_alert_webhook(self, message_id: str, payload: dict) -> str:
    """Send one alert event to the on-call webhook; retry with backoff while it may pass."""
    attempt = self.request.retries + 1
    last = attempt >= settings.FAILSAFE_ALERT_WEBHOOK_MAX_ATTEMPTS
    result = alert_notices.alert_webhook_send(
        message_id=message_id, payload=payload, attempt=attempt, last_attempt=last
    )
    if result.delivered:
        return "delivered"
    if result.retryable and not last:
        raise self.retry(countdown=alert_notices.retry_delay_seconds(attempt), max_retries=None)
    return "failed"


# --- monitors ---
@shared_task(
    name="failsafe.monitors_evaluate",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=50,
    time_limit=60,
)
def monitors_evaluate() -> dict[str, int]:
    """Judge every model's monitors and act on them (queue ``monitors``, beat every
    FAILSAFE_MONITOR_INTERVAL_SECONDS). Safe to run twice: an alert is unique per (model,
    monitor) and its action is taken once."""
    from .monitors import monitors_evaluate as run

    return run()


# --- data quality ---
@shared_task(
    name="failsafe.learn_feature_profiles",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=300,
    time_limit=360,
)
def learn_feature_profiles() -> int:
    """Learn every recently active model's feature profile again (beat, hourly). Safe to run
    twice: each run rewrites each profile from the same window. Returns how many it learned."""
    return sum(1 for rows in feature_profiles_refresh().values() if rows is not None)


# --- modes ---


@shared_task(name="failsafe.containment_reminders", acks_late=True, ignore_result=True,
             soft_time_limit=50, time_limit=60)  # fmt: skip
def containment_reminders() -> int:
    """Remind owners and leads of containments past their review-by time (each at most once
    per FAILSAFE_REMINDER_MINUTES; the service re-checks every row it takes)."""
    return containment_reminders_send()

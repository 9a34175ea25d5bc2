"""The fail-safe app's Celery tasks: thin, they call a service."""

from __future__ import annotations

from celery import shared_task


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

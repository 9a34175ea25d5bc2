"""The fail-safe app's Celery tasks (thin: each calls one service)."""

from __future__ import annotations

from celery import shared_task

from .services.profiles import feature_profiles_refresh


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

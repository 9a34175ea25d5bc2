"""The review-quality app's Celery tasks: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task


# --- people ---
@shared_task(
    name="quality.check_reviewers",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=240,
    time_limit=300,
)
def check_reviewers() -> int:
    """Raise fast-accept and gold-accuracy alerts (one open per reviewer, model and kind, so a
    redelivered run raises nothing twice)."""
    from .services.alerts import reviewers_check

    return len(reviewers_check())


# --- end people ---
# --- gold ---
@shared_task(
    name="quality.serve_gold",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=50,
    time_limit=60,
)
def serve_gold() -> int:
    """Serve the gold items reviewers have earned (beat, every minute). Safe to run twice:
    each member's row is locked and re-checked (no second undecided gold item)."""
    from .services.gold import gold_serve

    return gold_serve()


# --- end gold ---

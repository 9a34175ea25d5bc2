"""The review-quality app's Celery tasks: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task


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

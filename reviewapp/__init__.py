"""Failsafe project package: settings, URLs, the Celery app, and the review queue + ingestion."""

from .celery import app as celery_app

__all__ = ["celery_app"]

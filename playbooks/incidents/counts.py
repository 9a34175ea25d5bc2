"""The top bar's count of open incidents (engineers and leads), cached like the escalations'
count so a page pays no query for it: opening and every lifecycle move forget it, else it is
at most ``COUNT_SECONDS`` old."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import transaction

from ..models import Incident
from .selectors import OPEN_STATUSES

COUNT_KEY = "playbooks:open-incidents"
COUNT_SECONDS = 30


def open_count(user: Any = None) -> int:
    n = cache.get(COUNT_KEY)
    if n is None:
        n = Incident.objects.filter(status__in=OPEN_STATUSES).count()
        cache.set(COUNT_KEY, n, COUNT_SECONDS)
    return n


def open_count_forget() -> None:
    """Now and after the caller's transaction commits (a page read in between may have
    cached the old count again)."""
    cache.delete(COUNT_KEY)
    transaction.on_commit(lambda: cache.delete(COUNT_KEY))

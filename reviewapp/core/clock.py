"""The one clock every service reads: ``clock.now()``.

It is Django's ``timezone.now()`` unless a caller has moved it with :func:`travel`, which
``seed_demo`` does to write a month of history through the real services: ingest, routing,
claims, decisions, audit events, change requests, occurrences and alerts then all carry the
moment they are pretending to happen at, and the dashboards fold them into those buckets.

The shift lives in a context variable, so it reaches only the code running in the block (the
thread or task that set it, and Celery tasks run eagerly inside it), never another request or
worker. Outside a block ``now()`` costs one context-variable read on top of ``timezone.now()``.
Model fields use ``default=clock.now`` so rows created without an explicit time agree too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from contextvars import ContextVar

from django.utils import timezone

_offset: ContextVar[dt.timedelta | None] = ContextVar("failsafe_clock_offset", default=None)


def now() -> dt.datetime:
    """The current time (aware, UTC), shifted while a :func:`travel` block runs."""
    offset = _offset.get()
    if offset is None:
        return timezone.now()
    return timezone.now() + offset


def is_travelling() -> bool:
    return _offset.get() is not None


@contextlib.contextmanager
def travel(at: dt.datetime) -> Iterator[None]:
    """Run the block as if it were ``at``. The clock keeps ticking from there with the real
    one, so events written one after another inside the block stay in order. Blocks nest; the
    outer time comes back when the inner block ends."""
    if timezone.is_naive(at):
        raise ValueError("clock.travel needs an aware datetime")
    token = _offset.set(at - timezone.now())
    try:
        yield
    finally:
        _offset.reset(token)

"""Helpers of the monitor tests: 5-minute buckets written by hand, a fold clock, hook spies.

Not a conftest.py: other parts of the fail-safe issue add their own tests in this folder."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from reviewapp.core import registry
from reviewapp.dashboards.models import MetricBucket, RollupWatermark

# A bucket boundary; the monitors run two minutes after it, the fold just before.
T = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
NOW = T + dt.timedelta(minutes=2)
FIVE = dt.timedelta(minutes=5)


def folded(at: dt.datetime = NOW) -> None:
    """The fold last ran at ``at``: buckets ending before it (less the settle time) count."""
    RollupWatermark.objects.update_or_create(name="main", defaults={"folded_at": at})


def bucket(model, start: dt.datetime, **fields) -> MetricBucket:
    row, _ = MetricBucket.objects.update_or_create(model=model, bucket_start=start, defaults=fields)
    return row


def buckets(model, *, end: dt.datetime, count: int, **fields) -> None:
    """``count`` consecutive buckets ending at ``end`` (the last starts at end - 5 min)."""
    for i in range(count):
        bucket(model, end - (count - i) * FIVE, **fields)


@contextmanager
def hook_spy(*names: str):
    """{hook name: [kwargs of each call]} while the block runs."""
    calls: dict[str, list[dict]] = {name: [] for name in names}
    fns = {}
    for name in names:

        def fn(_name=name, **kwargs):
            calls[_name].append(kwargs)

        fns[name] = fn
        registry.register_hook(name, fn)
    try:
        yield calls
    finally:
        for name, fn in fns.items():
            registry.unregister_hook(name, fn)

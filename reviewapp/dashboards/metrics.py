"""/metrics: Prometheus text exposition of the core figures, from totals and live counts.

A custom collector builds the families on each scrape from a handful of small queries, so
the numbers are the same ones the dashboards show and no process-local state is involved
(any web process answers the same).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from . import selectors
from .stats import TTD_EDGES_SECONDS


class _Snapshot:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.models = list(selectors.models_list().only("id", "slug"))
        self.totals = selectors.totals_by_model()
        self.live = selectors.live_queue()
        self.watermark = selectors.watermark_read()

    def collect(self) -> Iterator[Any]:
        labels = ["model"]
        queue = GaugeMetricFamily(
            "failsafe_queue_length",
            "Review items open now (pending, claimed, escalated or deferred).",
            labels=labels,
        )
        oldest = GaugeMetricFamily(
            "failsafe_oldest_pending_age_seconds",
            "Age of the oldest open review item (0 when the queue is empty).",
            labels=labels,
        )
        counters = {
            name: CounterMetricFamily(f"failsafe_{name}", help_text, labels=labels)
            for name, help_text in (
                ("ingested", "Predictions received and routed (folded into rollups)."),
                ("routed", "Predictions routed to human review."),
                ("decided", "Final decisions (accept or override)."),
                ("overridden", "Final decisions that overrode the model."),
                ("sla_breaches", "Review items whose SLA deadline passed undecided."),
            )
        }
        ttd = HistogramMetricFamily(
            "failsafe_time_to_disposition_seconds",
            "Time from prediction received to final decision.",
            labels=labels,
        )
        for model in self.models:
            value = [model.slug]
            live = self.live.get(model.pk, selectors.LiveQueue())
            queue.add_metric(value, live.open)
            age = 0.0
            if live.oldest_created_at is not None:
                age = max(0.0, (self.now - live.oldest_created_at).total_seconds())
            oldest.add_metric(value, age)
            total = self.totals.get(model.pk)
            for name, family in counters.items():
                family.add_metric(value, getattr(total, name, 0) if total else 0)
            bins = list(total.ttd_bins) if total else [0] * (len(TTD_EDGES_SECONDS) + 1)
            cumulative, buckets = 0, []
            for edge, count in zip(TTD_EDGES_SECONDS, bins, strict=False):
                cumulative += count
                buckets.append((_le(edge), cumulative))
            buckets.append(("+Inf", sum(bins)))
            ttd.add_metric(value, buckets, sum_value=total.ttd_sum_seconds if total else 0.0)
        yield queue
        yield oldest
        yield from counters.values()
        yield ttd
        freshness = GaugeMetricFamily(
            "failsafe_rollup_age_seconds",
            "Seconds since the dashboard rollups were last folded (alert if it keeps growing).",
        )
        folded_at = self.watermark.folded_at if self.watermark else None
        freshness.add_metric([], (self.now - folded_at).total_seconds() if folded_at else -1)
        yield freshness


# The classic text format (0.0.4): every Prometheus server and agent reads it, and our metric
# names are plain ASCII so nothing from the newer format is needed.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _le(edge: float) -> str:
    # Rollup bins are half-open [lower, edge): a duration exactly on an edge is counted in the
    # next bucket, where Prometheus' `le` would put it in this one. Durations are measured in
    # microseconds, so the difference never shows.
    return f"{float(edge):.1f}"


def metrics_text(*, now: dt.datetime) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(now))
    return generate_latest(registry), CONTENT_TYPE

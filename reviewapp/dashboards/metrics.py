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

from reviewapp.core import registry
from reviewapp.models import Mode, ModelMode

from . import selectors
from .stats import TTD_EDGES_SECONDS

# The fail-safe app answers these (registered from its AppConfig.ready(); dashboards import
# nothing from it): ``failsafe.monitor_states(model=)`` -> the model's monitors, as a list of
# {"name", "state", "value", "bound", "severity"} (or a dict keyed by name), read from what the
# evaluator stored (never computed on a scrape); ``failsafe.open_alert_counts()`` ->
# {(model slug, severity): unresolved alerts}.
# fn(models=[...]) -> {model id: [{"name", "state", "value", "bound", "severity"}]}: every
# model's monitors in one call (a fixed number of queries however many models).
MONITOR_STATES_HOOK = "failsafe.monitor_states_many"
OPEN_ALERT_COUNTS_HOOK = "failsafe.open_alert_counts"
# failsafe_monitor_state's values: inside the bound, a spike, a persistent shift.
MONITOR_STATE_VALUES = {"ok": 0, "spike": 1, "shift": 2}


class _Snapshot:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        # The mode row comes in the same query (a LEFT JOIN: no row means normal).
        self.models = list(
            selectors.models_list().select_related("mode_row").only("id", "slug", "mode_row__mode")
        )
        self.totals = selectors.totals_by_model()
        self.live = selectors.live_queue()
        self.watermark = selectors.watermark_read()
        self.inbox = selectors.inbox_backlog()

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
        inbox = GaugeMetricFamily(
            "failsafe_inbox_waiting",
            "Predictions received and not yet routed (near 0 while routing workers keep up).",
        )
        inbox.add_metric([], self.inbox.waiting)
        yield inbox
        inbox_age = GaugeMetricFamily(
            "failsafe_inbox_oldest_age_seconds",
            "Seconds the oldest unrouted prediction has waited (0 when none): past "
            "INGEST_SWEEP_AFTER_SECONDS the sweeper is republishing; routing is down or short.",
        )
        oldest_received = self.inbox.oldest_received_at
        inbox_age.add_metric(
            [], max(0.0, (self.now - oldest_received).total_seconds()) if oldest_received else 0.0
        )
        yield inbox_age
        yield from self.failsafe()

    def failsafe(self) -> Iterator[Any]:
        """Each model's mode, each monitor's state and value, and unresolved alerts."""
        mode = GaugeMetricFamily(
            "failsafe_model_mode",
            "The model's operating mode: 1 for the mode it is in, 0 for the others.",
            labels=["model", "mode"],
        )
        state = GaugeMetricFamily(
            "failsafe_monitor_state",
            "Each monitor's state: 0 inside its bound, 1 spike, 2 persistent shift.",
            labels=["model", "monitor", "severity"],
        )
        value = GaugeMetricFamily(
            "failsafe_monitor_value",
            "Each monitor's metric at its last evaluation.",
            labels=["model", "monitor"],
        )
        bound = GaugeMetricFamily(
            "failsafe_monitor_bound",
            "Each monitor's absolute bound (from the model's active monitors document).",
            labels=["model", "monitor"],
        )
        monitor_rows = _monitor_rows(self.models)
        for model in self.models:
            current = _mode_of(model)
            for choice in Mode.values:
                mode.add_metric([model.slug, choice], 1 if choice == current else 0)
            for monitor in monitor_rows.get(model.pk, ()):
                name = str(monitor.get("name") or "")
                code = MONITOR_STATE_VALUES.get(str(monitor.get("state") or "ok"))
                if not name or code is None:
                    continue
                severity = str(monitor.get("severity") or "")
                state.add_metric([model.slug, name, severity], code)
                if _is_number(monitor.get("value")):
                    value.add_metric([model.slug, name], float(monitor["value"]))
                if _is_number(monitor.get("bound")):
                    bound.add_metric([model.slug, name], float(monitor["bound"]))
        alerts = GaugeMetricFamily(
            "failsafe_alerts_open",
            "Alerts not yet resolved (open or acknowledged), per model and severity.",
            labels=["model", "severity"],
        )
        counts: dict[tuple[str, str], int] = {}
        for found in registry.run_hooks(OPEN_ALERT_COUNTS_HOOK):
            counts.update(found)
        for model in self.models:
            for severity in ("S1", "S2", "S3", "S4"):
                alerts.add_metric([model.slug, severity], counts.get((model.slug, severity), 0))
        yield mode
        yield state
        yield value
        yield bound
        yield alerts


def _mode_of(model: Any) -> str:
    try:
        return model.mode_row.mode
    except ModelMode.DoesNotExist:
        return Mode.NORMAL


def _monitor_rows(models: list[Any]) -> dict[int, list[dict[str, Any]]]:
    rows: dict[int, list[dict[str, Any]]] = {}
    for found in registry.run_hooks(MONITOR_STATES_HOOK, models=list(models)):
        rows.update(found or {})
    return rows


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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

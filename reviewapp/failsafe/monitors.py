"""The monitors: which ones a model has, what each says now, and the beat run that acts on it.

A model's monitors are the active version of its ``monitors`` governed document
(``governance/monitors.py`` validates it); a model with none is watched by
:data:`DEFAULT_MONITORS`. Each monitor is a threshold rule of the dashboards' evaluator
(``dashboards.rules.Rule`` on the 5-minute buckets). What a monitor says now:

* ``shift`` (persistent shift): past its bound in every bucket of its duration;
* ``spike``: past its bound in the newest bucket(s), for less than its duration;
* ``ok``: the newest bucket is inside the bound;
* ``no_data``: the newest bucket has no value, or the fold lags (stale): never fires.

:func:`monitors_evaluate` (beat, queue ``monitors``) reads every model's buckets in a fixed
number of queries and hands each state to :mod:`.services.alerts`. docs/failsafe.md, "Monitors".
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock
from reviewapp.dashboards import rules
from reviewapp.dashboards.models import METRIC_BUCKET_MINUTES
from reviewapp.dashboards.selectors import metric_series_many
from reviewapp.governance.models import DocumentKind, DocumentVersion
from reviewapp.models import MLModel

logger = logging.getLogger(__name__)

OK, SPIKE, SHIFT, NO_DATA = "ok", "spike", "shift", "no_data"
STATE_LABELS = {
    OK: _("ok"),
    SPIKE: _("spike"),
    SHIFT: _("persistent shift"),
    NO_DATA: _("no data"),
}

# The monitors of a model with no monitors version (docs/failsafe.md, "Monitors"). Operational
# monitors (queue, SLA, silence, rejected envelopes) queue no shift sample: re-reviewing what
# passed says nothing about them.
DEFAULT_MONITORS: tuple[dict[str, Any], ...] = (
    {"name": "uncertain-rate", "metric": "uncertain_rate", "op": ">", "bound": 0.5,
     "duration_minutes": 30, "severity": "S3", "action": "notify"},
    {"name": "override-rate", "metric": "override_rate", "op": ">", "bound": 0.3,
     "duration_minutes": 60, "severity": "S2", "action": "notify"},
    {"name": "ood-rate", "metric": "ood_rate", "op": ">", "bound": 0.3,
     "duration_minutes": 30, "severity": "S2", "action": "notify"},
    {"name": "rejected-envelopes", "metric": "rejected_rate", "op": ">", "bound": 0.2,
     "duration_minutes": 15, "severity": "S2", "action": "notify", "shift_sample_size": 0},
    # A schema change upstream (a field renamed, a type changed) makes most predictions
    # anomalous: contain the model instead of letting it degrade silently.
    {"name": "data-anomalies", "metric": "anomaly_rate", "op": ">", "bound": 0.25,
     "duration_minutes": 15, "severity": "S2", "action": "contain"},
    {"name": "open-queue", "metric": "open_queue", "op": ">", "bound": 500,
     "duration_minutes": 30, "severity": "S3", "action": "notify", "shift_sample_size": 0},
    {"name": "oldest-waiting", "metric": "oldest_waiting_minutes", "op": ">", "bound": 240,
     "duration_minutes": 15, "severity": "S3", "action": "notify", "shift_sample_size": 0},
    {"name": "sla-breach-rate", "metric": "sla_breach_rate", "op": ">", "bound": 0.1,
     "duration_minutes": 60, "severity": "S2", "action": "notify", "shift_sample_size": 0},
    {"name": "silence", "metric": "received_vs_usual", "op": "<", "bound": 0.1,
     "duration_minutes": 15, "severity": "S2", "action": "notify", "shift_sample_size": 0},
)  # fmt: skip


def resolve_minutes(monitor: dict[str, Any]) -> int:
    return int(monitor.get("resolve_minutes") or settings.FAILSAFE_ALERT_RESOLVE_MINUTES)


def shift_sample_size(monitor: dict[str, Any]) -> int:
    size = monitor.get("shift_sample_size")
    return int(settings.FAILSAFE_SHIFT_SAMPLE_SIZE if size is None else size)


@dataclass(frozen=True)
class ModelMonitors:
    monitors: tuple[dict[str, Any], ...]
    version: int | None  # None: the defaults


def monitors_of(models: list[MLModel]) -> dict[int, ModelMonitors]:
    """{model id: its active monitors (or the defaults)}: one query for every model."""
    active = {
        d.model_slug: d
        for d in DocumentVersion.objects.filter(
            kind=DocumentKind.MONITORS, is_active=True, model_slug__in=[m.slug for m in models]
        ).only("model_slug", "version", "document")
    }
    out = {}
    for model in models:
        doc = active.get(model.slug)
        if doc is None:
            out[model.pk] = ModelMonitors(DEFAULT_MONITORS, None)
        else:
            out[model.pk] = ModelMonitors(tuple(doc.document.get("monitors") or ()), doc.version)
    return out


@dataclass(frozen=True)
class MonitorState:
    """What one monitor says now."""

    monitor: dict[str, Any]
    rule: rules.Rule
    state: str  # OK, SPIKE, SHIFT or NO_DATA
    value: float | None  # the newest bucket's value
    # SPIKE / SHIFT: the first bucket of the run past the bound; OK: of the run back inside.
    since: dt.datetime | None
    as_of: dt.datetime | None  # end of the newest bucket judged
    detail: str = ""  # NO_DATA: "stale" (the fold lags) or "missing" (no value)
    values: tuple[rules.Point, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.monitor["name"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "value": self.value,
            "bound": self.rule.bound,
            "severity": self.monitor.get("severity", ""),
        }


def rule_of(monitor: dict[str, Any]) -> rules.Rule:
    return rules.Rule(
        metric=monitor["metric"],
        op=monitor["op"],
        bound=float(monitor["bound"]),
        duration_minutes=int(monitor["duration_minutes"]),
    )


def judge(monitor: dict[str, Any], series: rules.Series) -> MonitorState:
    """One monitor's state on its metric's series (pure)."""
    rule = rule_of(monitor)
    finding = rules.evaluate(rule, series)
    points = series.points
    newest = points[-1] if points else None
    as_of = newest.start + dt.timedelta(minutes=series.bucket_minutes) if newest else None

    def state(name: str, since: dt.datetime | None = None, detail: str = "") -> MonitorState:
        value = newest.value if newest is not None else None
        return MonitorState(monitor, rule, name, value, since, as_of, detail, finding.values)

    if finding.reason == rules.STALE:
        return state(NO_DATA, detail="stale")
    if finding.breached:
        return state(SHIFT, finding.since)
    if newest is None or newest.value is None:
        return state(NO_DATA, detail="missing")
    past = rule.past(newest.value)
    since = newest.start
    for point in reversed(points[:-1]):
        if point.value is None or rule.past(point.value) != past:
            break
        since = point.start
    return state(SPIKE if past else OK, since)


def _unknown(monitor: dict[str, Any]) -> MonitorState:
    rule = rules.Rule(metric="open_queue", op=monitor["op"], bound=float(monitor["bound"]),
                      duration_minutes=int(monitor["duration_minutes"]))  # fmt: skip
    return MonitorState(monitor, rule, NO_DATA, None, None, None, "unknown_metric")


def _window(monitors: tuple[dict[str, Any], ...]) -> int:
    """Minutes of buckets the monitors need: the longest duration or resolve time, plus an
    hour so a run's start is seen."""
    longest = max(
        [int(m["duration_minutes"]) for m in monitors] + [resolve_minutes(m) for m in monitors],
        default=0,
    )
    return longest + 60


def states_of(
    models: list[MLModel], *, now: dt.datetime | None = None
) -> dict[int, tuple[ModelMonitors, list[MonitorState]]]:
    """{model id: (its monitors, each one's state)}: a fixed number of queries however many
    models and monitors (the active documents, the settled reach, every bucket in one, the
    usual levels in one)."""
    now = now or clock.now()
    found = monitors_of(models)
    # A metric the dashboards no longer define (the document was validated when applied)
    # reads as no data rather than stopping every model's monitors.
    metrics = {m["metric"] for mm in found.values() for m in mm.monitors} & set(rules.METRICS)
    minutes = max((_window(mm.monitors) for mm in found.values()), default=60)
    since = now - dt.timedelta(minutes=minutes + METRIC_BUCKET_MINUTES)
    series = (
        metric_series_many(
            model_ids=[m.pk for m in models], metrics=sorted(metrics), since=since, until=now
        )
        if metrics
        else {}
    )
    out = {}
    for model in models:
        mm = found[model.pk]
        out[model.pk] = (
            mm,
            [
                judge(monitor, series[model.pk][monitor["metric"]])
                if monitor["metric"] in metrics
                else _unknown(monitor)
                for monitor in mm.monitors
            ],
        )
    return out


def monitor_states(*, model: MLModel) -> list[dict[str, Any]]:
    """Hook ``failsafe.monitor_states``: [{"name", "state", "value", "bound", "severity"}]."""
    _mm, states = states_of([model])[model.pk]
    return [s.as_dict() for s in states]


def monitor_states_many(*, models: list[MLModel]) -> dict[int, list[dict[str, Any]]]:
    """Hook ``failsafe.monitor_states_many`` (/metrics): every model's monitor states in one
    evaluation (a fixed number of queries however many models)."""
    return {pk: [s.as_dict() for s in states] for pk, (_mm, states) in states_of(models).items()}


def metric_snapshot(*, model: MLModel) -> dict[str, Any]:
    """Hook ``failsafe.metric_snapshot``: {monitor name: {"value", "bound", "state",
    "severity"}}, recorded with every mode switch."""
    _mm, states = states_of([model])[model.pk]
    return snapshot_of(states)


def snapshot_of(states: list[MonitorState]) -> dict[str, Any]:
    return {
        s.name: {k: v for k, v in s.as_dict().items() if k != "name"}
        | {"metric": s.monitor["metric"]}
        for s in states
    }


def monitors_defaults(*, model_slug: str) -> list[dict[str, Any]]:
    """Hook ``governance.monitors_defaults``: what a first monitors version starts from."""
    return [dict(m) for m in DEFAULT_MONITORS]


def monitors_evaluate(*, now: dt.datetime | None = None) -> dict[str, int]:
    """One beat run: every model's monitors judged, and each state handed to the alerts
    service (open, update, act, resolve). One model's failure is logged and the others go on.
    Returns counts by state."""
    from .services.alerts import alerts_apply

    now = now or clock.now()
    models = list(MLModel.objects.order_by("id").only("id", "slug", "name"))
    counts = dict.fromkeys((OK, SPIKE, SHIFT, NO_DATA), 0)
    if not models:
        return counts
    judged = states_of(models, now=now)
    unresolved = _unresolved_alerts([m.pk for m in models])
    for model in models:
        mm, states = judged[model.pk]
        for s in states:
            counts[s.state] += 1
        try:
            alerts_apply(
                model=model, states=states, version=mm.version,
                alerts=unresolved.get(model.pk, {}), now=now,
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - one model must not stop the others' monitors
            logger.exception("monitors of %s failed", model.slug)
    return counts


def _unresolved_alerts(model_ids: list[int]) -> dict[int, dict[str, Any]]:
    from .models import Alert

    out: dict[int, dict[str, Any]] = {}
    for alert in Alert.objects.filter(model_id__in=model_ids).exclude(state=Alert.State.RESOLVED):
        out.setdefault(alert.model_id, {})[alert.monitor] = alert
    return out

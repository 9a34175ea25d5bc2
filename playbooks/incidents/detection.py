"""A data-derived impact start: when did the incident's models first go out of band?

Detection is when someone (or a monitor's persistent shift) noticed; the impact began when the
metrics first left their bounds, often earlier (MTTD is detection − impact start). For each
of the incident's models and each of its monitors (the same monitors and 5-minute buckets the
fail-safe app judges), the run of consecutive out-of-band buckets that is the last one before
detection gives a candidate: its first bucket. The alerts of those models that were open at
detection give theirs (``Alert.since``). The earliest candidate is the proposal; each comes
with its evidence (model, monitor, bucket time, value, bound). Read-only: taking it is an
ordinary edit of the incident (``services.incident_edit``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Q

from reviewapp.dashboards import rules
from reviewapp.dashboards.selectors import metric_series_many
from reviewapp.failsafe import monitors
from reviewapp.failsafe.models import Alert

from ..models import Incident


def _last_run_start(rule: rules.Rule, points: tuple[rules.Point, ...], until: dt.datetime):
    """(first point, last point) of the last run of out-of-band buckets starting at or before
    ``until``; None when no bucket was out of band."""
    run_first = run_last = None
    found = None
    for point in points:
        if point.start > until:
            break
        if point.value is not None and rule.past(point.value):
            if run_first is None:
                run_first = point
            run_last = point
            found = (run_first, run_last)
        else:
            run_first = None
    return found


def impact_start_candidates(incident: Incident) -> list[dict[str, Any]]:
    """Every candidate, earliest first: {"at", "source" ("monitor"/"alert"), "model",
    "monitor", "metric", "op", "bound", "value", "until"}. A fixed number of queries."""
    models = [link.model for link in incident.model_links.select_related("model")]
    if not models:
        return []
    until = incident.detected_at
    since = until - dt.timedelta(hours=int(settings.INCIDENT_IMPACT_LOOKBACK_HOURS))
    found = monitors.monitors_of(models)
    metrics = {m["metric"] for mm in found.values() for m in mm.monitors} & set(rules.METRICS)
    series = (
        metric_series_many(
            model_ids=[m.pk for m in models], metrics=sorted(metrics), since=since, until=until
        )
        if metrics
        else {}
    )
    out: list[dict[str, Any]] = []
    for model in models:
        for monitor in found[model.pk].monitors:
            if monitor["metric"] not in metrics:
                continue
            rule = monitors.rule_of(monitor)
            run = _last_run_start(rule, series[model.pk][monitor["metric"]].points, until)
            if run is None:
                continue
            first, last = run
            out.append(
                {
                    "at": first.start,
                    "source": "monitor",
                    "model": model.slug,
                    "monitor": monitor["name"],
                    "metric": monitor["metric"],
                    "op": rule.op,
                    "bound": rule.bound,
                    "value": first.value,
                    "until": last.start,
                }
            )
    alerts = Alert.objects.filter(
        Q(resolved_at__isnull=True) | Q(resolved_at__gte=until),
        model_id__in=[m.pk for m in models],
        since__lte=until,
        since__gte=since,
    ).select_related("model")
    for alert in alerts:
        out.append(
            {
                "at": alert.since,
                "source": "alert",
                "alert": alert.pk,
                "model": alert.model.slug,
                "monitor": alert.monitor,
                "metric": (alert.rule or {}).get("metric", ""),
                "op": (alert.rule or {}).get("op", ""),
                "bound": (alert.rule or {}).get("bound"),
                "value": alert.value,
                "until": None,
            }
        )
    out.sort(key=lambda c: (c["at"], c["model"], c["monitor"]))
    return out


def impact_start_proposal(incident: Incident) -> dict[str, Any] | None:
    """{"at": the earliest candidate's time, "evidence": that candidate, "candidates": all,
    "is_current": already the impact start} or None when nothing was out of band."""
    candidates = impact_start_candidates(incident)
    if not candidates:
        return None
    best = candidates[0]
    return {
        "at": best["at"],
        "evidence": best,
        "candidates": candidates,
        "is_current": incident.impact_started_at == best["at"],
        "lookback_hours": int(settings.INCIDENT_IMPACT_LOOKBACK_HOURS),
    }

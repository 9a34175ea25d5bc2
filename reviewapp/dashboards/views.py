"""Dashboard pages and /metrics. They read rollups and cheap live counts only."""

from __future__ import annotations

import datetime as dt
import hmac
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from reviewapp.core import clock, roles
from reviewapp.core.db_router import reads_from_replica
from reviewapp.core.exceptions import RoleRequired
from reviewapp.governance.rules import REASON_LABELS

from . import charts, selectors
from .figures import (
    DEFAULT_RANGE,
    RANGES,
    RULE,
    Summary,
    bucket_series,
    calibration,
    episodes,
    policy_marks,
    status_of,
    summarize,
    threshold_of,
    window_for,
)
from .metrics import metrics_text
from .services import bucket_minutes
from .stats import bucket_floor

DASHBOARD_ROLES = (roles.LEAD, roles.COMMITTEE, roles.ENGINEER)
OVERVIEW_ROLES = (*DASHBOARD_ROLES, roles.REVIEWER)


def _require_role(request: HttpRequest, allowed: tuple[str, ...]) -> None:
    if not roles.has_role(request.user, *allowed):
        raise RoleRequired(
            _("Dashboards are for leads, committee members and engineers."), roles=allowed
        )


def _range_or_error(request: HttpRequest) -> tuple[str | None, HttpResponse | None]:
    key = request.GET.get("range", DEFAULT_RANGE)
    if key in RANGES:
        return key, None
    response = render(
        request,
        "dashboards/bad_request.html",
        {
            "field": "range",
            "message": _("Choose one of: %(choices)s.") % {"choices": ", ".join(RANGES)},
        },
        status=400,
    )
    return None, response


def _today_start(now: dt.datetime, minutes: int) -> dt.datetime:
    local = timezone.localtime(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return bucket_floor(midnight.astimezone(dt.UTC), minutes)


def _common(request: HttpRequest, range_key: str) -> dict[str, Any]:
    now = clock.now()
    watermark = selectors.watermark_read()
    minutes = watermark.bucket_minutes if watermark else bucket_minutes()
    window = window_for(range_key, now, minutes)
    return {
        "now": now,
        "watermark": watermark,
        "minutes": minutes,
        "window": window,
        "range_key": range_key,
        "ranges": RANGES.values(),
        "today_start": _today_start(now, minutes),
        "rule": RULE,
    }


@require_GET
@login_required
@reads_from_replica()  # rollups and counts: a replica's lag is fine (signed-in user read before)
def overview(request: HttpRequest) -> HttpResponse:
    _require_role(request, OVERVIEW_ROLES)
    range_key, error = _range_or_error(request)
    if error:
        return error
    ctx = _common(request, range_key)
    window, today_start = ctx["window"], ctx["today_start"]
    models = list(selectors.models_list())
    # Totals come summed by the database; only ingested / routed per bucket come back as rows,
    # for the trend line and the spike / shift badge.
    sums = selectors.rollup_sums(
        periods={"range": window.start, "today": today_start}, end=window.end
    )
    points = selectors.rate_points(start=window.fetch_start, end=window.end, step=window.step)
    live = selectors.live_queue()
    by_model: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in points:
        by_model[row["model_id"]].append(row)
    lines, grand, grand_today = [], Summary(), Summary()
    for model in models:
        mine = sums.get(model.pk, {"range": {}, "today": {}})
        summary, today = summarize([mine["range"]]), summarize([mine["today"]])
        grand.add(mine["range"])
        grand_today.add(mine["today"])
        series = bucket_series(by_model.get(model.pk, []), window)
        queue = live.get(model.pk, selectors.LiveQueue())
        lines.append(
            {
                "model": model,
                "summary": summary,
                "today": today,
                "queue": queue,
                "oldest_age": _age(ctx["now"], queue.oldest_created_at),
                "status": status_of(series),
                "spark": charts.sparkline(series),
            }
        )
    queue_total = sum(q.open for q in live.values())
    oldest = min((q.oldest_created_at for q in live.values() if q.oldest_created_at), default=None)
    ctx.update(
        {
            "lines": lines,
            "grand": grand,
            "grand_today": grand_today,
            "queue_total": queue_total,
            "oldest_total": _age(ctx["now"], oldest),
            "breached_open": sum(q.breached_open for q in live.values()),
            "can_see_models": roles.has_role(request.user, *DASHBOARD_ROLES),
        }
    )
    return render(request, "dashboards/overview.html", ctx)


@require_GET
@login_required
@reads_from_replica()  # rollups and counts: a replica's lag is fine (signed-in user read before)
def model_detail(request: HttpRequest, slug: str) -> HttpResponse:
    _require_role(request, DASHBOARD_ROLES)
    range_key, error = _range_or_error(request)
    if error:
        return error
    model = get_object_or_404(selectors.models_list(), slug=slug)
    ctx = _common(request, range_key)
    window, now = ctx["window"], ctx["now"]
    rows = selectors.rollup_rows(
        start=min(window.fetch_start, ctx["today_start"]), end=window.end, model_ids=[model.pk]
    )
    in_range = [r for r in rows if r["bucket_start"] >= window.start]
    summary = summarize(in_range)
    series = bucket_series(rows, window)
    queue = selectors.live_queue(model_ids=[model.pk]).get(model.pk, selectors.LiveQueue())
    policies = selectors.policy_history(model_slugs=[model.slug])
    marks = policy_marks(policies, window)
    active = next((p for p in reversed(policies) if p.deactivated_at is None), None)
    threshold = threshold_of(active.rules) if active else None
    sla_seconds = None
    if active and isinstance(active.rules.get("sla_minutes"), dict):
        minutes = active.rules["sla_minutes"].get(model.criticality)
        sla_seconds = float(minutes) * 60 if isinstance(minutes, int | float) else None
    cal_rows = calibration(summary)
    reasons = sorted(summary.reasons.items(), key=lambda kv: -kv[1])
    ctx.update(
        {
            "model": model,
            "summary": summary,
            "today": summarize(r for r in rows if r["bucket_start"] >= ctx["today_start"]),
            "series": series,
            "episodes": episodes(series),
            "queue": queue,
            "oldest_age": _age(now, queue.oldest_created_at),
            "active_policy": active,
            "threshold": threshold,
            "by_label": bool(active and active.rules.get("min_confidence_by_label")),
            "sla_seconds": sla_seconds,
            "marks": marks,
            "rate_chart": charts.uncertain_rate_chart(series, window, marks),
            "ttd_chart": charts.ttd_chart(series, window, sla_seconds),
            "calibration": cal_rows,
            "calibration_chart": charts.calibration_chart(cal_rows, threshold),
            "reasons": [
                {
                    "code": code,
                    "label": REASON_LABELS.get(code, code),
                    "count": n,
                    "share": n / summary.routed if summary.routed else None,
                }
                for code, n in reasons
            ],
            "throughput": _throughput(model.pk, window, now),
        }
    )
    return render(request, "dashboards/model.html", ctx)


def _age(now: dt.datetime, since: dt.datetime | None) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds())


def _throughput(model_id: int, window: Any, now: dt.datetime) -> dict[str, Any]:
    """Decisions per reviewer per UTC day over the range, with the last 7 days spelled out."""
    first = window.start.astimezone(dt.UTC).date()
    last = now.astimezone(dt.UTC).date()
    days = [last - dt.timedelta(days=i) for i in range(min(7, (last - first).days + 1))][::-1]
    table: dict[int, dict[str, Any]] = {}
    for row in selectors.reviewer_days(model_id=model_id, start=first, end=last):
        entry = table.setdefault(
            row.reviewer_id,
            {
                "reviewer": row.reviewer,
                "days": defaultdict(int),
                "decided": 0,
                "overridden": 0,
                "escalated": 0,
                "deferred": 0,
                "active_days": 0,
            },
        )
        entry["days"][row.day] += row.decided
        entry["decided"] += row.decided
        entry["overridden"] += row.overridden
        entry["escalated"] += row.escalated
        entry["deferred"] += row.deferred
        entry["active_days"] += 1 if (row.decided or row.escalated or row.deferred) else 0
    people = sorted(table.values(), key=lambda e: (-e["decided"], e["reviewer"].get_username()))
    for entry in people:
        entry["per_day"] = [entry["days"].get(d, 0) for d in days]
        entry["per_active_day"] = (
            entry["decided"] / entry["active_days"] if entry["active_days"] else None
        )
        entry["override_share"] = (
            entry["overridden"] / entry["decided"] if entry["decided"] else None
        )
    return {"days": days, "people": people}


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition. Bearer token when METRICS_TOKEN is set; open without one
    only when METRICS_PUBLIC (or DEBUG) says so. Production settings refuse to start with
    neither; this check keeps the page closed if a configuration slipped past them."""
    token = getattr(settings, "METRICS_TOKEN", "")
    if not token and not (settings.METRICS_PUBLIC or settings.DEBUG):
        return HttpResponse(
            "/metrics is closed: set METRICS_TOKEN (or METRICS_PUBLIC=1).\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _sep, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            response = HttpResponse(
                "Authorization: a valid 'Bearer <METRICS_TOKEN>' header is required.\n",
                status=401,
                content_type="text/plain; charset=utf-8",
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    body, content_type = metrics_text(now=clock.now())
    return HttpResponse(body, content_type=content_type)

"""The incident metrics page (overall, or one model's with ?model=slug) and the link to it that
other apps' pages of a model show (``core.model_actions``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from reviewapp.core import roles
from reviewapp.dashboards.charts import Chart, duration, nice_ceiling
from reviewapp.models import MLModel
from reviewapp.selectors.visibility import models_visible_to, visible_model_ids

from . import metrics, selectors

# Chart frame (viewBox units; the SVG scales to the column's width).
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 24, 40
SERIES = (
    ("detect", gettext_lazy("time to detect")),
    ("contain", gettext_lazy("time to contain")),
    ("resolve", gettext_lazy("time to resolve")),
)


def bucket_label(bucket: metrics.Bucket, period: str) -> str:
    if period == "week":
        return _("week of %s") % date_format(bucket.start, "M j")
    return date_format(bucket.start, "M Y")


def times_chart(buckets: list[metrics.Bucket], period: str) -> Chart | None:
    """Grouped bars: per week or month of detection, the mean time to detect, contain and
    resolve, each bar's hover title naming the mean, p90 and the incidents behind it."""
    means = [
        fig.mean
        for b in buckets
        for _key, fig in b.figures.as_list()
        if fig.mean is not None
    ]  # fmt: skip
    if not means:
        return None
    chart = Chart(title=_("Mean times by %s of detection") % period, width=WIDTH, height=HEIGHT)
    # Ticks in one unit a person reads at a glance: minutes, hours or days.
    unit, suffix = next(
        (u, sfx) for u, sfx in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))
        if max(means) >= 2 * u or u == 1
    )  # fmt: skip
    y_max = nice_ceiling(max(means) / unit, steps=(1, 2, 4, 8, 10)) * unit
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP

    def y(value: float) -> float:
        return round(y0 - min(1.0, value / y_max) * (y0 - y1), 1)

    for i in range(5):
        tick = y_max * i / 4
        text = f"{tick / unit:g} {suffix}"
        chart.add("line", "im-gridline", x1=x0, y1=y(tick), x2=x1, y2=y(tick))
        chart.add("text", "im-tick", x=x0 - 6, y=y(tick) + 4, anchor="end", text=text)
    chart.add("line", "im-axis", x1=x0, y1=y0, x2=x1, y2=y0)
    slot = (x1 - x0) / len(buckets)
    bar = min(18.0, slot / 4)
    every = max(1, -(-len(buckets) // 8))
    for i, b in enumerate(buckets):
        left = x0 + i * slot + (slot - 3 * bar) / 2
        label = bucket_label(b, period)
        for j, (key, name) in enumerate(SERIES):
            fig = getattr(b.figures, key)
            if fig.mean is None:
                continue
            title = _("%(when)s, %(what)s: mean %(mean)s, p90 %(p90)s, of %(n)d incidents") % {
                "when": label, "what": name, "mean": duration(fig.mean),
                "p90": duration(fig.p90), "n": fig.n,
            }  # fmt: skip
            top = y(fig.mean)
            chart.add(
                "rect", f"im-bar im-{key}", title=title, x=round(left + j * bar, 1), y=top,
                w=round(bar - 1, 1), h=max(round(y0 - top, 1), 1),
            )  # fmt: skip
        if i % every == 0:
            chart.add(
                "text", "im-tick", x=round(x0 + (i + 0.5) * slot, 1), y=y0 + 16,
                anchor="middle", text=label,
            )  # fmt: skip
    chart.add("text", "im-tick", x=6, y=y1 - 10, anchor="start", text=_("mean duration"))
    return chart


# The roles granted ``view_incident`` (apps.py). The link checks roles rather than
# permissions: roles are cached on the user for the request, so a model page that pins its
# query count pays nothing for this link.
READER_ROLES = (roles.REVIEWER, roles.LEAD, roles.COMMITTEE, roles.CATALOG_EDITOR, roles.ENGINEER)


def model_actions(*, model_slug: str, user: Any) -> list[dict[str, Any]]:
    """core.model_actions: "Incident metrics" on another app's page of a model, for who may
    read that model's incidents (no query for who sees every model)."""
    if not roles.has_role(user, *READER_ROLES):
        return []
    visible = visible_model_ids(user)
    if visible is not None and not MLModel.objects.filter(pk__in=visible, slug=model_slug).exists():
        return []
    return [
        {
            "label": _("Incident metrics"),
            "url": reverse("incidents:metrics") + f"?model={model_slug}",
        }
    ]


@login_required
@require_GET
def incident_metrics(request: HttpRequest) -> HttpResponse:
    if not selectors.may_read_any(request.user):
        raise PermissionDenied(_("Incidents are for people with a role in Failsafe."))
    visible = list(models_visible_to(request.user).order_by("slug"))
    slug = request.GET.get("model", "")
    model = next((m for m in visible if m.slug == slug), None)
    if slug and model is None:
        raise Http404(_("No model “%s” you can see.") % slug)
    figures = metrics.metrics_for(
        request.user, model_id=model.pk if model else None, model_slug=model.slug if model else ""
    )
    chart = times_chart(figures.over_time, figures.period)
    return render(
        request,
        "playbooks/incidents/metrics.html",
        {
            "m": figures,
            "model": model,
            "models": visible,
            "times": [
                {"key": key, "label": label, "figure": getattr(figures.durations, key)}
                for key, label in SERIES
            ],
            "chart": chart.svg(css_class="im-chart", label=chart.title) if chart else None,
            "buckets": [
                {"label": bucket_label(b, figures.period), "bucket": b} for b in figures.over_time
            ],
            "failure_modes": [
                {"slug": s, "title": figures.failure_mode_titles.get(s, s), "n": n}
                for s, n in figures.by_failure_mode
            ],
            "recurrences": [
                {
                    "title": figures.failure_mode_titles.get(r.failure_mode, r.failure_mode),
                    "earlier": r.earlier,
                    "later": r.later,
                    "actions_done_at": r.actions_done_at,
                }  # fmt: skip
                for r in figures.recurrences
            ],
            "few": metrics.FEW,
        },
    )

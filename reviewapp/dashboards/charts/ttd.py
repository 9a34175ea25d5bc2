"""The time-to-disposition chart: median (p50) and p90 per bucket, against the SLA."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext as _

from ..figures import BucketFigures, Window
from .base import Chart, Frame, bucket_label, duration, nice_ceiling, path_data, zone_note


def ttd_chart(series: Sequence[BucketFigures], window: Window, sla_seconds: float | None) -> Chart:
    chart = Chart(title=_("Time to disposition per bucket: median (p50) and p90"))
    p50s = [b.summary.p50 for b in series]
    p90s = [b.summary.p90 for b in series]
    top = max([v for v in [*p50s, *p90s] if v is not None] + [sla_seconds or 0, 60])
    y_max = _nice_duration_ceiling(top * 1.1)
    frame = Frame(window, y_max)
    half = (frame.x(window.start + window.step) - frame.x(window.start)) / 2
    ticks = [y_max * i / 4 for i in range(5)]
    frame.axes(chart, ticks, duration, _("time to disposition"), zone_note())
    if sla_seconds:
        y = frame.y(sla_seconds)
        chart.add(
            "line",
            "limit",
            x1=frame.x0,
            y1=y,
            x2=frame.x1,
            y2=y,
            title=_("SLA deadline %(d)s") % {"d": duration(sla_seconds)},
        )
        chart.add(
            "text",
            "limit-label",
            x=frame.x0 + 4,
            y=y - 5,
            anchor="start",
            text=_("SLA %(d)s") % {"d": duration(sla_seconds)},
        )
    for values, cls, name in ((p90s, "p90", "p90"), (p50s, "p50", "p50")):
        pts = [
            None if v is None else (round(frame.x(b.start) + half, 1), frame.y(v))
            for b, v in zip(series, values, strict=True)
        ]
        for d in path_data(pts):
            chart.add("path", cls, d=d)
        for b, v, p in zip(series, values, pts, strict=True):
            if p is None:
                continue
            chart.add(
                "circle",
                f"mark-{cls}",
                cx=p[0],
                cy=p[1],
                r=3,
                title=_("%(when)s: %(name)s %(d)s over %(n)s decisions")
                % {
                    "when": bucket_label(b),
                    "name": name,
                    "d": duration(v),
                    "n": b.summary.decided,
                },
            )
    chart.legend = [
        {"cls": "lg-p50", "label": _("median (p50)")},
        {"cls": "lg-p90", "label": _("p90: 9 in 10 decided within")},
        {"cls": "lg-limit", "label": _("SLA deadline for this model")},
    ]
    return chart


def _nice_duration_ceiling(seconds: float) -> float:
    for step in (
        60,
        300,
        600,
        900,
        1800,
        3600,
        7200,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86400,
        2 * 86400,
        4 * 86400,
    ):
        if seconds <= step * 4:
            return step * 4
    return nice_ceiling(seconds)

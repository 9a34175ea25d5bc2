"""The uncertain-rate chart: routed / ingested per bucket, its expected band, spikes and shifts,
and each policy activation as a vertical line with its threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from ..figures import MIN_BUCKET_VOLUME, BucketFigures, PolicyMark, Window
from ..stats import NORMAL, PENDING, SHIFT, SPIKE
from .base import Chart, Frame, bucket_label, nice_ceiling, path_data, pct, zone_note


def uncertain_rate_chart(
    series: Sequence[BucketFigures], window: Window, marks: Sequence[PolicyMark]
) -> Chart:
    chart = Chart(title=_("Uncertain rate (routed / ingested) per bucket"))
    values = [b.rate for b in series if b.rate is not None]
    highs = [b.point.band.high for b in series if b.point.band is not None]
    y_max = nice_ceiling(max([*values, *highs, 0.05]) * 1.1)
    y_max = min(1.0, y_max)
    frame = Frame(window, y_max)
    half = (frame.x(window.start + window.step) - frame.x(window.start)) / 2

    # Shaded columns first, so lines and points draw over them.
    for b in series:
        if b.point.kind in (SHIFT, PENDING):
            cls = "shade-shift" if b.point.kind == SHIFT else "shade-pending"
            chart.add(
                "rect",
                cls,
                x=frame.x(b.start),
                y=frame.y1,
                w=round(frame.x(b.end) - frame.x(b.start), 1),
                h=frame.y0 - frame.y1,
            )
    tick_step = nice_ceiling(y_max / 5, steps=(1, 2, 5, 10))
    ticks = [i * tick_step for i in range(int(round(y_max / tick_step)) + 1)]
    frame.axes(
        chart, ticks, lambda v: pct(v, 0 if tick_step >= 0.01 else 1), _("% routed"), zone_note()
    )

    # The expected band: trailing median ± k robust standard deviations.
    upper, lower, mid = [], [], []
    for b in series:
        band = b.point.band
        cx = round(frame.x(b.start) + half, 1)
        if band is None:
            upper.append(None)
            lower.append(None)
            mid.append(None)
            continue
        upper.append((cx, frame.y(band.high)))
        lower.append((cx, frame.y(max(0.0, band.low))))
        mid.append((cx, frame.y(band.median)))
    for d in _band_polygons(upper, lower):
        chart.add("path", "band", d=d)
    for d in path_data(mid):
        chart.add("path", "median", d=d)

    # Each activation of a policy version: a vertical line labelled with its threshold.
    for mark in marks:
        if not mark.in_range:
            continue
        x = frame.x(mark.at)
        label = _("v%(v)s · threshold %(t)s") % {
            "v": mark.version,
            "t": "–" if mark.threshold is None else f"{mark.threshold:.2f}",
        }
        chart.add(
            "line",
            "policy",
            x1=x,
            y1=frame.y0,
            x2=x,
            y2=frame.y1 - 12,
            title=_("Policy v%(v)s (%(h)s) active from %(at)s")
            % {
                "v": mark.version,
                "h": mark.short_hash,
                "at": date_format(timezone.localtime(mark.at), "DATETIME_FORMAT")
                + timezone.localtime(mark.at).strftime(" %Z"),
            },
        )
        # Near the right edge the label reads leftwards from the line, so it is never clipped.
        right = x > frame.x0 + 0.7 * (frame.x1 - frame.x0)
        chart.add(
            "text",
            "policy-label",
            x=x - 3 if right else x + 3,
            y=frame.y1 - 14,
            anchor="end" if right else "start",
            text=label,
        )

    rates, thin = [], []
    for b in series:
        cx = round(frame.x(b.start) + half, 1)
        point = None if b.rate is None else (cx, frame.y(b.rate))
        # Too few predictions to judge (e.g. the bucket in progress): a hollow dot, off the line.
        few = b.summary.ingested < MIN_BUCKET_VOLUME
        rates.append(None if few else point)
        thin.append(point if few else None)
    for d in path_data(rates):
        chart.add("path", "rate", d=d)
    for b, p in zip(series, thin, strict=True):
        if p is not None:
            chart.add(
                "circle",
                "mark-thin",
                cx=p[0],
                cy=p[1],
                r=3.5,
                title=_("%(when)s: %(rate)s routed (%(r)s of %(n)s): too few predictions to judge")
                % {
                    "when": bucket_label(b),
                    "rate": pct(b.rate),
                    "r": b.summary.routed,
                    "n": b.summary.ingested,
                },
            )
    for b, p in zip(series, rates, strict=True):
        if p is None:
            continue
        s = b.summary
        kind = b.point.kind
        what = {
            SPIKE: _("spike"),
            SHIFT: _("persistent shift"),
            PENDING: _("out of band: watching"),
            NORMAL: _("within band"),
        }.get(kind, "")
        title = _("%(when)s: %(rate)s routed (%(r)s of %(n)s) · %(what)s") % {
            "when": bucket_label(b),
            "rate": pct(b.rate),
            "r": s.routed,
            "n": s.ingested,
            "what": what,
        }
        if kind == SPIKE:
            x, y = p
            chart.add(
                "path",
                "mark-spike",
                d=f"M{x},{y - 7} L{x + 6},{y} L{x},{y + 7} L{x - 6},{y} Z",
                title=title,
            )
        elif kind == SHIFT:
            chart.add("rect", "mark-shift", x=p[0] - 4.5, y=p[1] - 4.5, w=9, h=9, title=title)
        elif kind == PENDING:
            chart.add("circle", "mark-pending", cx=p[0], cy=p[1], r=5, title=title)
        else:
            chart.add("circle", "mark-normal", cx=p[0], cy=p[1], r=3, title=title)

    chart.legend = [
        {"cls": "lg-rate", "label": _("uncertain rate")},
        {"cls": "lg-band", "label": _("expected band (trailing median ± 3σ)")},
        {"cls": "lg-spike", "label": _("spike: back in band within 2 buckets")},
        {"cls": "lg-shift", "label": _("shift: out of band 3+ buckets")},
        {"cls": "lg-pending", "label": _("out of band, too recent to tell")},
        {"cls": "lg-policy", "label": _("policy change (new threshold)")},
        {
            "cls": "lg-thin",
            "label": _("fewer than %(n)s predictions: not judged") % {"n": MIN_BUCKET_VOLUME},
        },
    ]
    return chart


def _band_polygons(upper: Sequence[Any], lower: Sequence[Any]) -> list[str]:
    out, up, lo = [], [], []
    for u, low in zip([*upper, None], [*lower, None], strict=True):
        if u is None or low is None:
            if len(up) > 1:
                pts = up + list(reversed(lo))
                out.append("M" + " L".join(f"{x},{y}" for x, y in pts) + " Z")
            up, lo = [], []
        else:
            up.append(u)
            lo.append(low)
    return out

"""Chart geometry for inline SVG: figures in, shapes out; one template draws any chart.

Every chart has labelled axes with units, its threshold or limit as a line, and a hover title
on each data mark; the page shows the same numbers in a table under "show data".
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from .figures import MIN_BUCKET_VOLUME, BucketFigures, CalibrationRow, PolicyMark, Window
from .stats import NORMAL, PENDING, SHIFT, SPIKE

WIDTH, HEIGHT = 760, 250
LEFT, RIGHT, TOP, BOTTOM = 62, 24, 26, 44


@dataclass
class Chart:
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    shapes: list[dict[str, Any]] = field(default_factory=list)
    legend: list[dict[str, str]] = field(default_factory=list)

    def add(self, kind: str, cls: str = "", title: str = "", **attrs: Any) -> None:
        self.shapes.append({"kind": kind, "cls": cls, "title": title, **attrs})

    def svg(self, css_class: str = "chart-svg", label: str = "") -> SafeString:
        """The chart as inline SVG markup. Built here rather than in a template loop: a chart
        has hundreds of shapes and the template engine made a page 5x slower. Every piece of
        text is escaped."""
        parts = [
            f'<svg viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-label="{escape(label or self.title)}" class="{css_class}"'
            + (f' width="{self.width}" height="{self.height}"' if css_class == "spark" else "")
            + ">"
        ]
        for shape in self.shapes:
            parts.append(_shape_markup(shape))
        parts.append("</svg>")
        return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only

    def svg_spark(self) -> SafeString:
        return self.svg(css_class="spark", label=_("Uncertain rate trend"))


_SHAPE_ATTRS = {
    "line": (("x1", "x1"), ("y1", "y1"), ("x2", "x2"), ("y2", "y2")),
    "path": (("d", "d"),),
    "rect": (("x", "x"), ("y", "y"), ("w", "width"), ("h", "height")),
    "circle": (("cx", "cx"), ("cy", "cy"), ("r", "r")),
}


def _shape_markup(shape: dict[str, Any]) -> str:
    kind = shape["kind"]
    cls = escape(shape.get("cls", ""))
    if kind == "text":
        return (
            f'<text x="{shape["x"]}" y="{shape["y"]}" text-anchor="{shape.get("anchor", "start")}" '
            f'class="{cls}">{escape(shape["text"])}</text>'
        )
    attrs = " ".join(f'{out}="{escape(shape[key])}"' for key, out in _SHAPE_ATTRS[kind])
    title = shape.get("title")
    if title:
        return f'<{kind} {attrs} class="{cls}"><title>{escape(title)}</title></{kind}>'
    return f'<{kind} {attrs} class="{cls}"/>'


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def duration(seconds: float | None) -> str:
    """Human durations: 45 s, 12 min, 1 h 12 min, 2 d 3 h."""
    if seconds is None:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    m = s // 60
    if m < 60:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def nice_ceiling(value: float, steps: Sequence[float] = (1, 2, 2.5, 5, 10)) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for s in steps:
        if value <= s * exp:
            return s * exp
    return 10 * exp


def _time_label(moment: dt.datetime, window: Window) -> str:
    local = timezone.localtime(moment)
    if window.step < dt.timedelta(hours=6):
        return local.strftime("%H:%M")
    if window.step < dt.timedelta(days=1):
        return date_format(local, "D j")
    return date_format(local, "M j")


def _bucket_label(bucket: BucketFigures) -> str:
    start = timezone.localtime(bucket.start)
    end = timezone.localtime(bucket.end)
    return f"{start:%a %d %b %H:%M}–{end:%H:%M}"


class _Frame:
    def __init__(self, window: Window, y_max: float, width: int = WIDTH, height: int = HEIGHT):
        self.window, self.y_max = window, y_max
        self.width, self.height = width, height
        self.x0, self.x1 = LEFT, width - RIGHT
        self.y0, self.y1 = height - BOTTOM, TOP

    def x(self, moment: dt.datetime) -> float:
        span = (self.window.end - self.window.start).total_seconds()
        frac = (moment - self.window.start).total_seconds() / span
        return round(self.x0 + frac * (self.x1 - self.x0), 1)

    def y(self, value: float) -> float:
        frac = min(1.0, max(0.0, value / self.y_max)) if self.y_max else 0.0
        return round(self.y0 - frac * (self.y0 - self.y1), 1)

    def axes(
        self,
        chart: Chart,
        y_ticks: Sequence[float],
        fmt: Callable[[float], str],
        y_unit: str,
        x_unit: str,
    ) -> None:
        for tick in y_ticks:
            y = self.y(tick)
            chart.add("line", "grid", x1=self.x0, y1=y, x2=self.x1, y2=y)
            chart.add("text", "tick", x=self.x0 - 6, y=y + 4, anchor="end", text=fmt(tick))
        chart.add("line", "axis", x1=self.x0, y1=self.y0, x2=self.x1, y2=self.y0)
        chart.add("line", "axis", x1=self.x0, y1=self.y0, x2=self.x0, y2=self.y1)
        n = int((self.window.end - self.window.start) / self.window.step)
        every = max(1, math.ceil(n / 8))
        for i in range(0, n + 1, every):
            moment = self.window.start + i * self.window.step
            x = self.x(moment)
            chart.add("line", "tickmark", x1=x, y1=self.y0, x2=x, y2=self.y0 + 4)
            chart.add(
                "text",
                "tick",
                x=x,
                y=self.y0 + 16,
                anchor="middle",
                text=_time_label(moment, self.window),
            )
        chart.add("text", "axis-label", x=14, y=self.y1 - 10, anchor="start", text=y_unit)
        chart.add("text", "axis-label", x=self.x1, y=self.height - 6, anchor="end", text=x_unit)


def _path(points: Sequence[tuple[float, float] | None]) -> list[str]:
    """SVG path data, broken where a bucket has no value."""
    paths, current = [], []
    for p in points:
        if p is None:
            if len(current) > 1:
                paths.append("M" + " L".join(f"{x},{y}" for x, y in current))
            current = []
        else:
            current.append(p)
    if len(current) > 1:
        paths.append("M" + " L".join(f"{x},{y}" for x, y in current))
    elif len(current) == 1:
        x, y = current[0]
        paths.append(f"M{x - 2},{y} L{x + 2},{y}")
    return paths


def _zone_note() -> str:
    return _("time (%(zone)s)") % {"zone": timezone.localtime().strftime("%Z %z").strip()}


def uncertain_rate_chart(
    series: Sequence[BucketFigures], window: Window, marks: Sequence[PolicyMark]
) -> Chart:
    chart = Chart(title=_("Uncertain rate (routed / ingested) per bucket"))
    values = [b.rate for b in series if b.rate is not None]
    highs = [b.point.band.high for b in series if b.point.band is not None]
    y_max = nice_ceiling(max([*values, *highs, 0.05]) * 1.1)
    y_max = min(1.0, y_max)
    frame = _Frame(window, y_max)
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
        chart, ticks, lambda v: pct(v, 0 if tick_step >= 0.01 else 1), _("% routed"), _zone_note()
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
    for d in _path(mid):
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
                "at": date_format(timezone.localtime(mark.at), "DATETIME_FORMAT"),
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
    for d in _path(rates):
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
                    "when": _bucket_label(b),
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
            SHIFT: _("shift"),
            PENDING: _("out of band: watching"),
            NORMAL: _("within band"),
        }.get(kind, "")
        title = _("%(when)s: %(rate)s routed (%(r)s of %(n)s) · %(what)s") % {
            "when": _bucket_label(b),
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


def ttd_chart(series: Sequence[BucketFigures], window: Window, sla_seconds: float | None) -> Chart:
    chart = Chart(title=_("Time to disposition per bucket: median (p50) and p90"))
    p50s = [b.summary.p50 for b in series]
    p90s = [b.summary.p90 for b in series]
    top = max([v for v in [*p50s, *p90s] if v is not None] + [sla_seconds or 0, 60])
    y_max = _nice_duration_ceiling(top * 1.1)
    frame = _Frame(window, y_max)
    half = (frame.x(window.start + window.step) - frame.x(window.start)) / 2
    ticks = [y_max * i / 4 for i in range(5)]
    frame.axes(chart, ticks, duration, _("time to disposition"), _zone_note())
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
        for d in _path(pts):
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
                    "when": _bucket_label(b),
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


def calibration_chart(rows: Sequence[CalibrationRow], threshold: float | None) -> Chart:
    chart = Chart(title=_("Reviewer agreement by model confidence"))
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP

    def x(conf: float) -> float:
        return round(x0 + conf * (x1 - x0), 1)

    def y(share: float) -> float:
        return round(y0 - share * (y0 - y1), 1)

    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        chart.add("line", "grid", x1=x0, y1=y(tick), x2=x1, y2=y(tick))
        chart.add("text", "tick", x=x0 - 6, y=y(tick) + 4, anchor="end", text=pct(tick, 0))
    for i in range(11):
        conf = i / 10
        chart.add("line", "tickmark", x1=x(conf), y1=y0, x2=x(conf), y2=y0 + 4)
        chart.add("text", "tick", x=x(conf), y=y0 + 16, anchor="middle", text=f"{conf:.1f}")
    chart.add("line", "axis", x1=x0, y1=y0, x2=x1, y2=y0)
    chart.add("line", "axis", x1=x0, y1=y0, x2=x0, y2=y1)
    chart.add(
        "text", "axis-label", x=14, y=y1 - 10, anchor="start", text=_("% accepted as correct")
    )
    chart.add("text", "axis-label", x=x1, y=HEIGHT - 6, anchor="end", text=_("model confidence"))
    # A perfectly calibrated model is right as often as it says it is.
    chart.add(
        "line",
        "ideal",
        x1=x(0),
        y1=y(0),
        x2=x(1),
        y2=y(1),
        title=_("Perfect calibration: agreement equals confidence"),
    )
    for row in rows:
        left, right = x(row.low) + 4, x(row.high) - 4
        if row.decided == 0 or row.share is None:
            chart.add(
                "text",
                "empty-bucket",
                x=(left + right) / 2,
                y=y0 - 6,
                anchor="middle",
                text=_("no data"),
            )
            continue
        title = _(
            "Confidence %(lo).1f–%(hi).1f: %(a)s of %(n)s accepted (%(s)s; 95%% interval %(cl)s–%(ch)s)"
        ) % {
            "lo": row.low,
            "hi": row.high,
            "a": row.agreed,
            "n": row.decided,
            "s": pct(row.share),
            "cl": pct(row.ci_low, 0),
            "ch": pct(row.ci_high, 0),
        }
        chart.add(
            "rect",
            "bar",
            x=left,
            y=y(row.share),
            w=round(right - left, 1),
            h=round(y0 - y(row.share), 1),
            title=title,
        )
        cx = round((left + right) / 2, 1)
        if row.ci_low is not None and row.ci_high is not None:
            chart.add(
                "line", "whisker", x1=cx, y1=y(row.ci_low), x2=cx, y2=y(row.ci_high), title=title
            )
            for v in (row.ci_low, row.ci_high):
                chart.add("line", "whisker", x1=cx - 4, y1=y(v), x2=cx + 4, y2=y(v))
        chart.add(
            "text",
            "bar-label",
            x=cx,
            y=y0 - 5,
            anchor="middle",
            text=f"n={row.decided}",
        )
    if threshold is not None:
        chart.add(
            "line",
            "limit",
            x1=x(threshold),
            y1=y0,
            x2=x(threshold),
            y2=y1 - 12,
            title=_("Active threshold %(t).2f") % {"t": threshold},
        )
        chart.add(
            "text",
            "limit-label",
            x=x(threshold) + 4,
            y=y1 - 14,
            anchor="start",
            text=_("threshold %(t).2f") % {"t": threshold},
        )
    chart.legend = [
        {"cls": "lg-bar", "label": _("share accepted (n = decisions)")},
        {"cls": "lg-whisker", "label": _("95% interval: wide means few decisions")},
        {"cls": "lg-ideal", "label": _("perfect calibration")},
        {"cls": "lg-limit", "label": _("active threshold")},
    ]
    return chart


def sparkline(series: Sequence[BucketFigures], width: int = 140, height: int = 30) -> Chart:
    chart = Chart(title="", width=width, height=height)
    rates = [b.rate for b in series]
    known = [r for r in rates if r is not None]
    if not known:
        return chart
    y_max = max(known) * 1.15 or 1.0
    n = len(series)

    def px(i: int) -> float:
        return round(2 + i * (width - 4) / max(1, n - 1), 1)

    def py(v: float) -> float:
        return round(height - 3 - (v / y_max) * (height - 6), 1)

    for d in _path([None if r is None else (px(i), py(r)) for i, r in enumerate(rates)]):
        chart.add("path", "rate", d=d)
    for i, b in enumerate(series):
        if b.rate is None:
            continue
        if b.point.kind == SHIFT:
            chart.add(
                "rect",
                "mark-shift",
                x=px(i) - 2.5,
                y=py(b.rate) - 2.5,
                w=5,
                h=5,
                title=_bucket_label(b) + " " + pct(b.rate),
            )
        elif b.point.kind == SPIKE:
            chart.add(
                "circle",
                "mark-spike-dot",
                cx=px(i),
                cy=py(b.rate),
                r=2.5,
                title=_bucket_label(b) + " " + pct(b.rate),
            )
    return chart

"""What every chart shares: the Chart and its SVG markup, the plotting frame with its axes,
number, duration and time labels.
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

from ..figures import BucketFigures, Window

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


def bucket_label(bucket: BucketFigures) -> str:
    start = timezone.localtime(bucket.start)
    end = timezone.localtime(bucket.end)
    return f"{start:%a %d %b %H:%M}–{end:%H:%M}"


class Frame:
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


def path_data(points: Sequence[tuple[float, float] | None]) -> list[str]:
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


def zone_note() -> str:
    return _("time (%(zone)s)") % {"zone": timezone.localtime().strftime("%Z %z").strip()}

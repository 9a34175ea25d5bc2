"""Geometry for the inline SVG occurrence chart (the template only draws what this returns)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str
    week: dt.date


def weekly_bars(weeks: list[tuple[dt.date, int]], *, width: int = 560, height: int = 140) -> dict:
    left, bottom, top = 36, 24, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max([c for _w, c in weeks] + [1])
    # A round axis maximum so tick labels are whole numbers.
    axis_max = peak if peak <= 5 else ((peak + 4) // 5) * 5
    slot = plot_w / max(len(weeks), 1)
    bars = []
    for i, (week, count) in enumerate(weeks):
        h = plot_h * count / axis_max
        bars.append(
            Bar(
                x=round(left + i * slot + slot * 0.15, 1),
                y=round(top + plot_h - h, 1),
                width=round(slot * 0.7, 1),
                height=round(h, 1),
                count=count,
                label=week.strftime("%d %b"),
                week=week,
            )
        )
    ticks = sorted({0, axis_max // 2, axis_max})
    return {
        "width": width,
        "height": height,
        "left": left,
        "base_y": top + plot_h,
        "right": width - 8,
        "bars": bars,
        "ticks": [(t, round(top + plot_h - plot_h * t / axis_max, 1)) for t in ticks],
        "label_every": max(1, len(bars) // 6),
    }

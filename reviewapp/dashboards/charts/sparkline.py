"""The small uncertain-rate trend on the overview."""

from __future__ import annotations

from collections.abc import Sequence

from ..figures import BucketFigures
from ..stats import SHIFT, SPIKE
from .base import Chart, bucket_label, path_data, pct


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

    for d in path_data([None if r is None else (px(i), py(r)) for i, r in enumerate(rates)]):
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
                title=bucket_label(b) + " " + pct(b.rate),
            )
        elif b.point.kind == SPIKE:
            chart.add(
                "circle",
                "mark-spike-dot",
                cx=px(i),
                cy=py(b.rate),
                r=2.5,
                title=bucket_label(b) + " " + pct(b.rate),
            )
    return chart

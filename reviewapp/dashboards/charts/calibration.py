"""The calibration chart: how often reviewers agree with the model, by the model's confidence."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext as _

from ..figures import CalibrationRow
from .base import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Chart, pct


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

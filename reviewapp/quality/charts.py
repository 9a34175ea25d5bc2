"""The scorecard's weekly trend as small inline SVG bar charts (no JS): one chart per figure,
a bar per week, each with a hover title; the page shows the same numbers in a table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, TOP, BOTTOM = 240, 64, 6, 16


def bars(
    values: Sequence[float | None],
    labels: Sequence[str],
    *,
    label: str,
    fmt: Callable[[float], str],
    y_max: float | None = None,
) -> SafeString:
    """One bar per value (a missing value draws a short grey tick), week labels under the
    first and last bars."""
    known = [v for v in values if v is not None]
    top = y_max if y_max is not None else (max(known) if known else 1.0) or 1.0
    n = max(1, len(values))
    slot = WIDTH / n
    plot = HEIGHT - TOP - BOTTOM
    parts: list[str] = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" class="trend-svg" role="img" '
        f'aria-label="{escape(label)}">',
        f'<line x1="0" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - BOTTOM}" class="axis"/>',
    ]
    for i, (value, week) in enumerate(zip(values, labels, strict=True)):
        x = round(i * slot + slot * 0.15, 1)
        w = round(slot * 0.7, 1)
        if value is None:
            title = f"{week}: –"
            parts.append(
                f'<rect x="{x}" y="{HEIGHT - BOTTOM - 1}" width="{w}" height="1" class="none">'
                f"<title>{escape(title)}</title></rect>"
            )
            continue
        h = max(1.0, round(plot * min(value, top) / top, 1))
        title = f"{week}: {fmt(value)}"
        parts.append(
            f'<rect x="{x}" y="{round(HEIGHT - BOTTOM - h, 1)}" width="{w}" height="{h}" '
            f'class="bar"><title>{escape(title)}</title></rect>'
        )
    if labels:
        parts.append(
            f'<text x="0" y="{HEIGHT - 3}" class="tick">{escape(labels[0])}</text>'
            f'<text x="{WIDTH}" y="{HEIGHT - 3}" text-anchor="end" class="tick">'
            f"{escape(labels[-1])}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only


def trend_charts(weeks: Sequence[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """The four weekly charts of a scorecard: decisions, gold accuracy, median seconds,
    override share."""
    labels = [w["week"].strftime("%b %d") for w in weeks]
    gold = [w["gold_accuracy"].value for w in weeks]
    return [
        {
            "name": names["decisions"],
            "svg": bars(
                [float(w["decisions"]) for w in weeks],
                labels,
                label=names["decisions"],
                fmt=lambda v: f"{v:.0f}",
            ),
        },
        {
            "name": names["gold"],
            "svg": bars(gold, labels, label=names["gold"], fmt=lambda v: f"{v:.2f}", y_max=1.0),
        },
        {
            "name": names["seconds"],
            "svg": bars(
                [w["median_seconds"] for w in weeks],
                labels,
                label=names["seconds"],
                fmt=lambda v: f"{v:.0f} s",
            ),
        },
        {
            "name": names["overrides"],
            "svg": bars(
                [w["override_share"] for w in weeks],
                labels,
                label=names["overrides"],
                fmt=lambda v: f"{v:.2f}",
                y_max=1.0,
            ),
        },
    ]

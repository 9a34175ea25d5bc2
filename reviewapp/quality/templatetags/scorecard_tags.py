"""How the scorecard pages write a figure: "0.82 (0.74–0.88, n=63)", "few" under 20 items,
"no data (n=0)" when there is nothing to measure."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

from ..agreement import Figure

register = template.Library()


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def figure_text(fig: Figure | None) -> str:
    if fig is None or fig.value is None:
        n = fig.n if fig is not None else 0
        return _("no data (n=%(n)s)") % {"n": n}
    if fig.low is None or fig.high is None:
        return f"{_num(fig.value)} (n={fig.n})"
    return f"{_num(fig.value)} ({_num(fig.low)}–{_num(fig.high)}, n={fig.n})"


@register.simple_tag
def figure(fig: Figure | None) -> Any:
    """The figure with its interval and n, and a "few" badge when n is small."""
    text = figure_text(fig)
    if fig is not None and fig.value is not None and fig.few:
        return format_html(
            '<span class="fig">{}</span> <span class="badge amber" title="{}">{}</span>',
            text,
            _("Fewer than 20 items: read this figure with care."),
            _("few"),
        )
    return format_html('<span class="fig">{}</span>', text)


@register.filter
def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
    minutes, secs = divmod(int(round(value)), 60)
    return f"{minutes} min {secs} s"


@register.filter
def share(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"

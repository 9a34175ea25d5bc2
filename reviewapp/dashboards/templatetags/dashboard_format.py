from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _

from reviewapp.core import clock as core_clock
from reviewapp.dashboards.charts import duration as _duration
from reviewapp.dashboards.charts import pct as _pct

register = template.Library()


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    return _pct(value, int(digits))


@register.filter
def duration(seconds: float | None) -> str:
    return _duration(seconds)


@register.filter
def number(value: float | int | None) -> str:
    if value is None:
        return "–"
    return (
        f"{value:,.0f}" if isinstance(value, int) or float(value).is_integer() else f"{value:,.1f}"
    )


@register.simple_tag
def when(moment: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """Relative time, with the exact time in the user's zone (and offset) on hover."""
    if moment is None:
        return "–"
    now = now or core_clock.now()
    local = timezone.localtime(moment)
    exact = date_format(local, "Y-m-d H:i:s") + local.strftime(" %Z (UTC%z)")
    seconds = (now - moment).total_seconds()
    if abs(seconds) < 5:
        text = _("just now")
    elif seconds >= 0:
        text = _("%(d)s ago") % {"d": _duration(seconds)}
    else:
        text = _("in %(d)s") % {"d": _duration(-seconds)}
    return format_html('<time datetime="{}" title="{}">{}</time>', moment.isoformat(), exact, text)


@register.simple_tag
def clock(moment: dt.datetime | None) -> str:
    if moment is None:
        return "–"
    local = timezone.localtime(moment)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        local.strftime("%Y-%m-%d %H:%M %Z (UTC%z)"),
        date_format(local, "D j M H:i"),
    )

import datetime as dt

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from reviewapp.core import clock

register = template.Library()

_TONES = {
    "pending": "amber",
    "delivered": "green",
    "failed": "red",
    "stopped": "red",
    "skipped": "grey",
    "cancelled": "grey",
    "retry": "amber",
}


@register.filter
def status_tone(status: str) -> str:
    """The badge colour of a delivery status or attempt outcome (always shown with its word)."""
    return _TONES.get(status, "grey")


def _human(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return ngettext("%(n)d s", "%(n)d s", seconds) % {"n": seconds}
    minutes = seconds // 60
    if minutes < 60:
        return _("%(n)d min") % {"n": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return (
            _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
            if minutes
            else _("%(h)d h") % {"h": hours}
        )
    return _("%(d)d days") % {"d": hours // 24}


@register.filter
def in_human(value: dt.datetime | None) -> str:
    """'in 28 s', 'in 1 h 12 min', or 'due now' for a time in the past."""
    if not value:
        return ""
    delta = (value - clock.now()).total_seconds()
    return _("due now") if delta <= 0 else _("in %(t)s") % {"t": _human(delta)}


@register.filter
def ago_human(value: dt.datetime | None) -> str:
    """'just now', '12 min ago', '3 days ago'."""
    if not value:
        return ""
    delta = (clock.now() - value).total_seconds()
    return _("just now") if delta < 10 else _("%(t)s ago") % {"t": _human(delta)}

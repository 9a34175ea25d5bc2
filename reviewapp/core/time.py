"""Times as the APIs and exports write them."""

from __future__ import annotations

import datetime as dt


def iso_utc(value: dt.datetime | None, *, utc_designator: str = "Z") -> str | None:
    """ISO 8601 in UTC: ``2026-11-22T10:00:00Z`` (microseconds when there are any); None
    stays None. ``utc_designator="+00:00"`` writes the offset as digits instead, for a format
    that has always written it that way (the catalog export)."""
    if value is None:
        return None
    text = value.astimezone(dt.UTC).isoformat()
    return text.removesuffix("+00:00") + utc_designator


def parse_when(
    value: str, *, default_zone: dt.tzinfo = dt.UTC, end_of_day: bool = False
) -> dt.datetime | None:
    """An ISO 8601 date or date-time from a person or a client, as an aware datetime that any
    database can store; None when it is not one.

    Out-of-range input is "not one" too, never an exception: a month 13, a zone offset of
    ±24 h or more, or a time whose UTC equivalent falls outside years 1-9999 (Django's parser
    raises ValueError for some, and the conversion to UTC OverflowError for the others). A
    bare date is the start of that day, or of the next with ``end_of_day``; a naive time is in
    ``default_zone``.
    """
    from django.utils.dateparse import parse_date, parse_datetime

    text = (value or "").strip()
    try:
        day = parse_date(text)
        if day is not None:
            parsed = dt.datetime.combine(day, dt.time.min)
            if end_of_day:
                parsed += dt.timedelta(days=1)
        else:
            parsed = parse_datetime(text)
            if parsed is None:
                return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=default_zone)
        # Storable: both the value and its UTC equivalent stay within years 1-9999.
        parsed.astimezone(dt.UTC)
        return parsed
    except (ValueError, OverflowError):
        return None


def human_duration(seconds: float) -> str:
    """A duration in the pages' form: "2 d 3 h", "1 h 12 min", "5 min", "40 s"."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"

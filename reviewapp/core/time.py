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

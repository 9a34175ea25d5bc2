"""``{% next_update_due incident %}``: the incident page header's "Next update due 15:00 CET",
marked overdue in red once past (clock.now(), so tests can move time)."""

from __future__ import annotations

from typing import Any

from django import template

from reviewapp.core import clock

register = template.Library()


@register.inclusion_tag("playbooks/incidents/_next_update.html")
def next_update_due(incident: Any) -> dict[str, Any]:
    due = getattr(incident, "next_update_at", None)
    return {
        "due": due,
        "overdue": bool(due and incident.is_open and due < clock.now()),
        "is_open": bool(getattr(incident, "is_open", False)),
    }

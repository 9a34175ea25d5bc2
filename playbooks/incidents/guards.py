"""What must hold before an incident moves: each part of an incident that can hold up a
transition (open re-reviews, an unconfirmed root cause) answers here, so the lifecycle
service asks one function and names every objection by field."""

from __future__ import annotations

from typing import Any

from ..models import Incident


def problems(*, event: str, incident: Incident, reason: str = "") -> dict[str, list[str]]:
    """Every objection to ``event`` on ``incident`` (empty: it may go ahead)."""
    found: dict[str, list[str]] = {}
    for check in CHECKS:
        for field, messages in (check(event=event, incident=incident, reason=reason) or {}).items():
            found.setdefault(field, []).extend(messages)
    return found


# Each check: fn(event=, incident=, reason=) -> {field: [message]} or None.
CHECKS: list[Any] = []

"""Presentation helpers of the governance pages: rates as percentages, signed numbers."""

from __future__ import annotations

from typing import Any

from django import template

from reviewapp.core import clock
from reviewapp.core.time import human_duration

register = template.Library()


@register.filter
def percent(value: Any, digits: int = 1) -> str:
    """0.0213 → "2.1 %"; empty for a missing value."""
    try:
        return f"{float(value) * 100:.{int(digits)}f} %"
    except (TypeError, ValueError):
        return "—"


@register.filter
def plus(value: Any) -> str:
    """A signed number: "+3", "−1.5", "0"."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    text = f"{number:+.2f}".rstrip("0").rstrip(".") if number % 1 else f"{int(number):+d}"
    return "0" if number == 0 else text.replace("-", "−")


@register.filter
def short(value: Any, n: int = 8) -> str:
    return str(value or "")[: int(n)]


@register.filter
def items_of(mapping: Any) -> Any:
    return mapping.items() if isinstance(mapping, dict) else []


@register.filter
def minutes(value: Any) -> str:
    """90 → "1 h 30 min"; empty for a missing value."""
    try:
        return human_duration(float(value) * 60)
    except (TypeError, ValueError):
        return ""


@register.filter
def sub(value: Any, other: Any) -> Any:
    """value − other, for two numbers; empty otherwise."""
    try:
        return value - other
    except TypeError:
        return ""


@register.filter
def shadow_left(cr: Any) -> float | None:
    """Seconds left in a request's shadow period (0 once over, until the beat ends it); None
    when it is not in one."""
    if getattr(cr, "status", None) != "shadow" or cr.shadow_ends_at is None:
        return None
    return max(0.0, (cr.shadow_ends_at - clock.now()).total_seconds())

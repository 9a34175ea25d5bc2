"""Small presentation helpers for the queue pages: durations, SLA and status badges."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from reviewapp.core import clock, verbs
from reviewapp.core.time import human_duration
from reviewapp.selectors.blind import reveals_purpose, shown_reason_codes
from reviewapp.selectors.purposes import LIST_LABELS

register = template.Library()


@register.filter
def duration(seconds: Any) -> str:
    try:
        return human_duration(float(seconds))
    except (TypeError, ValueError):
        return ""


def _exact(value: dt.datetime) -> str:
    local = timezone.localtime(value)
    return local.strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z)")


@register.simple_tag
def reltime(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """'12 min ago' / 'in 5 min', with the exact time in the user's zone on hover."""
    if not value:
        return ""
    now = now or clock.now()
    delta = (value - now).total_seconds()
    text = (
        _("in %(d)s") % {"d": human_duration(delta)}
        if delta > 0
        else _("%(d)s ago") % {"d": human_duration(delta)}
    )
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', value.isoformat(), _exact(value), text
    )


@register.simple_tag
def sla_badge(item: Any, now: dt.datetime, near_seconds: int) -> str:
    if item.status == "decided":
        late = item.decided_at and item.decided_at > item.sla_due_at
        return format_html(
            '<span class="badge {}">{}</span>',
            "amber" if late else "grey",
            _("decided after SLA") if late else _("decided within SLA"),
        )
    left = (item.sla_due_at - now).total_seconds()
    exact = _exact(item.sla_due_at)
    if item.sla_breached_at or left <= 0:
        return format_html(
            '<span class="badge red" title="{}" data-sla="{}">⚠ {}</span>',
            exact,
            item.sla_due_at.isoformat(),
            _("SLA breached %(d)s ago") % {"d": human_duration(left)},
        )
    tone = "amber" if left <= near_seconds else "grey"
    return format_html(
        '<span class="badge {}" title="{}" data-sla="{}">{}</span>',
        tone,
        exact,
        item.sla_due_at.isoformat(),
        _("SLA in %(d)s") % {"d": human_duration(left)},
    )


@register.simple_tag
def status_badge(item: Any, user: Any = None) -> str:
    status = item.status
    if status == "claimed":
        who = item.claimed_by.get_username() if item.claimed_by_id and item.claimed_by else "?"
        if user is not None and item.claimed_by_id == getattr(user, "pk", None):
            who = _("you")
        return format_html(
            '<span class="badge blue">{}</span>', _("claimed by %(who)s") % {"who": who}
        )
    tone = {"pending": "grey", "escalated": "amber", "deferred": "grey", "decided": "green"}.get(
        status, "grey"
    )
    return format_html('<span class="badge {}">{}</span>', tone, item.get_status_display().lower())


@register.simple_tag
def purpose_badge(item: Any, viewer: Any = None) -> str:
    """Why a non-routed item is in the queue (a shift sample, a halted model's sample, ...),
    as a small badge; nothing for a routed item, and nothing for gold, qualification and
    second-review items, which must look like any other (``selectors.purposes.LIST_LABELS``),
    unless ``viewer`` is a lead who may see what they are (``selectors.blind.reveals``)."""
    label = LIST_LABELS.get(getattr(item, "purpose", ""))
    if label is None and viewer is not None and reveals_purpose(viewer, item):
        label = item.get_purpose_display().lower()
    if label is None:
        return ""
    return format_html('<span class="badge blue">{}</span>', label)


@register.simple_tag
def reason_codes_for(item: Any, viewer: Any) -> list[str]:
    """The item's reason codes as ``viewer`` sees them (a blind item's: selectors.blind)."""
    return shown_reason_codes(item, viewer=viewer)


@register.simple_tag
def priority_badge(priority: int) -> str:
    if priority >= 70:
        return format_html('<span class="badge red">{} {}</span>', _("high"), priority)
    if priority >= 40:
        return format_html('<span class="badge amber">{} {}</span>', _("medium"), priority)
    return format_html('<span class="badge grey">{} {}</span>', _("low"), priority)


@register.filter
def pct(value: Any) -> str:
    """0..1 to a CSS percentage, clamped."""
    try:
        return f"{max(0.0, min(1.0, float(value))) * 100:.1f}%"
    except (TypeError, ValueError):
        return "0%"


@register.filter
def signed(value: Any) -> str:
    try:
        return f"{float(value):+.2f}".replace("-", "−")
    except (TypeError, ValueError):
        return ""


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def verb_label(verb: str) -> str:
    """The registered label of an audit verb, current or legacy (reviewapp.core.verbs)."""
    return verbs.label(verb)


# Links other apps offer on review items (playbooks: "Open an incident"), through core's
# registry so the queue imports no app. A hook is ``fn(item_ids=, user=) -> [{"label",
# "url"}]``; on the bulk bar it gets ``item_ids=None`` and its link gets the selected ids
# appended by bulk.js (``?items=1,2,3``).
ITEM_ACTIONS_HOOK = "queue.item_actions"


def _item_links(item_ids: list[int] | None, user: Any) -> list[dict[str, Any]]:
    from reviewapp.core import registry

    links: list[dict[str, Any]] = []
    for found in registry.run_hooks(ITEM_ACTIONS_HOOK, item_ids=item_ids, user=user):
        links.extend(found or [])
    return links


@register.inclusion_tag("reviewapp/queue/_item_actions.html", takes_context=True)
def item_actions(context: template.Context, item: Any = None) -> dict[str, Any]:
    """The hook's links for one item, or (no item) the bulk bar's links for the selection."""
    ids = [item.pk] if item is not None else None
    return {"links": _item_links(ids, context.get("user")), "bulk": item is None}

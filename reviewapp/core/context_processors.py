from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from . import notifications, registry, roles


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The top bar's sections and the user menu's tools the user's roles may use, as the apps
    registered them. A URL that does not reverse raises: the system check names it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {
            "nav_sections": [],
            "nav_keys": set(),
            "nav_tools": [],
            "nav_counters": [],
            "user_roles": set(),
            "notifications_unread": 0,
        }
    mine = roles.user_roles(user)
    current = getattr(request.resolver_match, "namespace", "") if request.resolver_match else ""
    items = [
        {
            "key": section.key,
            "label": section.label,
            "url": reverse(section.url_name),
            "current": current == section.key,
        }
        for section in registry.nav_sections()
        if section.visible_to(mine)
    ]
    tools = [
        {"label": tool.label, "url": reverse(tool.url_name)}
        for tool in registry.tools()
        if tool.visible_to(mine)
    ]
    counters = [
        {
            "key": counter.key,
            "label": counter.label,
            "url": reverse(counter.url_name),
            # Counted only if the page renders the top bar (a template calls it).
            "count": functools.cache(functools.partial(counter.count, user)),
            "quiet": counter.quiet,
        }
        for counter in registry.nav_counters()
        if counter.visible_to(mine)
    ]
    # A counter keyed like a section shows as that section's count (the open incidents beside
    # "Incidents") instead of a link of its own.
    by_key = {c["key"]: c for c in counters}
    for item in items:
        if item["key"] in by_key:
            item["count"] = by_key.pop(item["key"])["count"]
    counters = [c for c in counters if c["key"] in by_key]
    return {
        "nav_sections": items,
        "nav_keys": {item["key"] for item in items},
        "nav_tools": tools,
        "nav_counters": counters,
        "user_roles": mine,
        "notifications_unread": _unread(user),
    }


def _unread(user: Any) -> Any:
    """The bell's count: loaded with the user (core.backends); a user loaded another way gets
    one COUNT, run only if the page shows the bell."""
    count = getattr(user, "notifications_unread", None)
    if count is not None:
        return count
    return functools.cache(lambda: notifications.notifications_unread_count(user=user))

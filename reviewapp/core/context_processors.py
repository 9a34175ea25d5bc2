from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import roles

# (section key, label, url name, roles that may use it; None = any signed-in user)
SECTIONS: list[tuple[str, Any, str, set[str] | None]] = [
    ("queue", _("Queue"), "queue:list", {roles.REVIEWER, roles.LEAD, roles.ENGINEER}),
    (
        "dashboards",
        _("Dashboards"),
        "dashboards:overview",
        {roles.REVIEWER, roles.LEAD, roles.COMMITTEE, roles.ENGINEER},
    ),
    (
        "governance",
        _("Governance"),
        "governance:policies",
        {roles.COMMITTEE, roles.LEAD, roles.ENGINEER},
    ),
    ("catalog", _("Catalog"), "catalog:search", None),
    ("playbooks", _("Playbooks"), "playbooks:index", {roles.ENGINEER, roles.LEAD}),
]


# Pages that are not a section of their own, listed in the user menu for those who use them.
TOOLS: list[tuple[Any, str, set[str]]] = [
    (_("Decision delivery"), "delivery:list", {roles.LEAD}),
    (_("Export labels"), "delivery:export", {roles.LEAD, roles.ENGINEER}),
    (_("Rejected envelopes"), "rejected-envelopes", {roles.LEAD, roles.ENGINEER}),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    from django.urls import NoReverseMatch, reverse

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_sections": [], "nav_tools": [], "user_roles": set()}
    mine = roles.user_roles(user)
    current = getattr(request.resolver_match, "namespace", "") if request.resolver_match else ""
    items = []
    for key, label, url_name, allowed in SECTIONS:
        if allowed is not None and not (mine & allowed):
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue  # the section's app is not built yet
        items.append({"key": key, "label": label, "url": url, "current": current == key})
    tools = [
        {"label": label, "url": reverse(url_name)}
        for label, url_name, allowed in TOOLS
        if mine & allowed
    ]
    return {"nav_sections": items, "nav_tools": tools, "user_roles": mine}

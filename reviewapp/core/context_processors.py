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
        {roles.LEAD, roles.COMMITTEE, roles.ENGINEER},
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


def navigation(request: HttpRequest) -> dict[str, Any]:
    from django.urls import NoReverseMatch, reverse

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_sections": [], "user_roles": set()}
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
    return {"nav_sections": items, "user_roles": mine}

"""The roles of DESIGN.md as Django groups, and the permissions each one carries.

Permissions are named as strings so core imports no app; a permission an app has not
created yet is skipped and added on the next migrate (post_migrate keeps groups in step).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

REVIEWER = "reviewer"
LEAD = "lead"
COMMITTEE = "committee"
CATALOG_EDITOR = "catalog_editor"
ENGINEER = "engineer"

ROLES = [REVIEWER, LEAD, COMMITTEE, CATALOG_EDITOR, ENGINEER]

ROLE_LABELS = {
    REVIEWER: "Reviewer",
    LEAD: "Lead",
    COMMITTEE: "Committee member",
    CATALOG_EDITOR: "Catalog editor",
    ENGINEER: "Engineer",
}

_READ_QUEUE = [
    "reviewapp.view_mlmodel",
    "reviewapp.view_prediction",
    "reviewapp.view_reviewitem",
    "governance.view_policyversion",
]

# Everyone signed in with a role reads the catalog (reviewers tag decisions from it).
_READ_CATALOG = [
    "catalog.view_failuremode",
    "catalog.view_mitigationtemplate",
    "catalog.view_casestudy",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    REVIEWER: [*_READ_QUEUE, *_READ_CATALOG, "reviewapp.decide_reviewitem"],
    LEAD: [
        *_READ_QUEUE,
        *_READ_CATALOG,
        "reviewapp.decide_reviewitem",
        "reviewapp.manage_queue",
        "reviewapp.view_rejectedenvelope",
        "reviewapp.change_mlmodel",
        "delivery.view_delivery",
        "delivery.retry_delivery",
    ],
    COMMITTEE: [*_READ_QUEUE, *_READ_CATALOG, "governance.approve_policychange"],
    # Editors edit anything and publish, but never their own entry (enforced in catalog
    # services); they draft too.
    CATALOG_EDITOR: [
        *_READ_CATALOG,
        "catalog.add_failuremode",
        "catalog.change_failuremode",
        "catalog.publish_failuremode",
        "catalog.add_mitigationtemplate",
        "catalog.change_mitigationtemplate",
        "catalog.add_casestudy",
        "catalog.change_casestudy",
    ],
    ENGINEER: [
        *_READ_QUEUE,
        "reviewapp.view_rejectedenvelope",
        *_READ_CATALOG,
        "catalog.add_failuremode",
        "catalog.add_mitigationtemplate",
        "catalog.add_casestudy",
    ],
}


def sync_role_permissions(group_model: Any, permission_model: Any) -> None:
    """Create the role groups and grant each the permissions that exist now. Idempotent."""
    for role, perm_names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = []
        for name in perm_names:
            app_label, codename = name.split(".", 1)
            perm = permission_model.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:
                wanted.append(perm)
        group.permissions.add(*wanted)


def sync_role_permissions_signal(sender: Any, **kwargs: Any) -> None:
    from django.contrib.auth.models import Group, Permission

    sync_role_permissions(Group, Permission)


def remember_roles(user: Any, group_names: Iterable[str]) -> set[str]:
    """Keep the user's roles on the instance for this request (a superuser has them all)."""
    names = set(group_names)
    if user.is_superuser:
        names |= set(ROLES)
    user._failsafe_roles = names
    return names


def user_roles(user: Any) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_failsafe_roles", None)
    if cached is None:
        cached = remember_roles(user, user.groups.values_list("name", flat=True))
    return cached


def has_role(user: Any, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))

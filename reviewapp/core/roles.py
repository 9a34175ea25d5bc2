"""The roles of DESIGN.md as Django groups. Core keeps the role names; each app declares
which of its permissions each role gets (``registry.register_role_permissions`` from its
``AppConfig.ready()``), and post_migrate keeps the groups in step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

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


def sync_role_permissions(
    group_model: Any, permission_model: Any, *, strict: bool = False, using: str = "default"
) -> None:
    """Create the role groups and grant each the permissions its apps declare. Idempotent;
    it only adds (a permission taken from a role stays on existing groups until removed).

    Migrations call it before every app's permissions exist, so by default a missing one is
    skipped; after migrate (``strict``) every permission exists, and one that does not is a
    misspelling in an app's declaration: an error, not a role silently short of a right.
    """
    from .registry import role_permissions

    wanted = role_permissions()
    names = {name for perms in wanted.values() for name in perms}
    rows = permission_model.objects.using(using).filter(
        content_type__app_label__in={name.split(".", 1)[0] for name in names}
    )
    existing = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in rows.values_list("pk", "content_type__app_label", "codename")
    }
    missing = sorted(names - existing.keys())
    if strict and missing:
        raise ImproperlyConfigured(
            "Roles are granted permissions that do not exist: " + ", ".join(missing)
        )
    for role in ROLES:
        group, _ = group_model.objects.using(using).get_or_create(name=role)
        group.permissions.add(*(existing[name] for name in wanted[role] if name in existing))


def sync_role_permissions_signal(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """post_migrate: once per migrate, after the last app's permissions were created."""
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    from .signals import suppressed

    with_models = [c for c in apps.get_app_configs() if c.models_module is not None]
    if not with_models or sender.label != with_models[-1].label:
        return
    # Not recorded grant by grant: the grants are each app's code, applied by migrate.
    with suppressed():
        sync_role_permissions(Group, Permission, strict=True, using=using)


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
        # A service principal (a producer's token) is authenticated but no person: it has no
        # groups, so no role.
        groups = getattr(user, "groups", None)
        names = groups.values_list("name", flat=True) if groups is not None else []
        cached = remember_roles(user, names)
    return cached


def has_role(user: Any, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def require(user: Any, *allowed: str, message: str = "", model: str | None = None) -> None:
    """Refuse (403) unless the user has one of ``allowed``; the 403 page names those roles."""
    if not has_role(user, *allowed):
        from .exceptions import RoleRequired

        raise RoleRequired(message, roles=allowed, model=model)


def role_labels(names: Iterable[str]) -> list[str]:
    return [ROLE_LABELS.get(name, name) for name in names]


def roles_with_permission(perm: str) -> tuple[str, ...]:
    """The roles granted ``perm`` ("app_label.codename") by the apps' declarations."""
    from .registry import role_permissions

    granted = role_permissions()
    return tuple(role for role in ROLES if perm in granted.get(role, ()))


def permission_required(perm: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Django's ``permission_required(perm, raise_exception=True)``, but the 403 page names
    the roles that hold ``perm``."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
            if not request.user.has_perm(perm):
                from .exceptions import RoleRequired

                raise RoleRequired(roles=roles_with_permission(perm))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator

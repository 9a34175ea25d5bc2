"""Audit events for changes to people and roles, wherever they are made.

Users, groups and permissions are Django's own models, changed by the admin, by ``manage.py``
commands and by the shell as much as by any service of ours, so these changes are recorded by
signal handlers rather than by one service: a user created, (de)activated, made superuser or
staff, added to or removed from a group (either side of the relation), and permissions given
to or taken from a group or a user. The event is written in the transaction of the change.

Who acted: the signed-in user of the current request (core.middleware keeps it), else
"outside a request" (a management command, the shell, a task).

The post_migrate sync of role permissions (roles.py) is not recorded event by event: the
grants are declared in each app's code and applied by ``migrate`` (see ``suppressed``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from .audit import Actor, audit_record
from .context import get_request

_suppressed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "audit_suppressed", default=False
)
_FLAGS = ("is_active", "is_superuser", "is_staff")
_FLAG_VERBS = {
    ("is_active", False): "core.user.deactivated",
    ("is_active", True): "core.user.reactivated",
    ("is_superuser", True): "core.user.superuser_granted",
    ("is_superuser", False): "core.user.superuser_revoked",
    ("is_staff", True): "core.user.staff_granted",
    ("is_staff", False): "core.user.staff_revoked",
}


@contextmanager
def suppressed() -> Iterator[None]:
    """Changes made inside are not recorded here (their caller records them, or they are
    configuration applied by migrate)."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def _actor() -> Actor:
    request = get_request()
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return Actor.user(user)
    return Actor.system("outside a request")


def _active() -> bool:
    return not _suppressed.get()


# --- users --------------------------------------------------------------------------------
def _user_flags(user: Any) -> dict[str, bool]:
    return {name: bool(getattr(user, name)) for name in _FLAGS}


def user_pre_save(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if raw or not _active() or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(_FLAGS):
        return  # a login stamping last_login, a password change: no flag can move
    before = sender._default_manager.filter(pk=instance.pk).values(*_FLAGS).first()
    instance._audit_flags_before = before


def user_post_save(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs) -> None:
    if raw or not _active():
        return
    if created:
        audit_record(
            actor=_actor(),
            verb="core.user.created",
            target=instance,
            after={"username": instance.get_username(), **_user_flags(instance)},
        )
        return
    before = getattr(instance, "_audit_flags_before", None)
    instance._audit_flags_before = None
    if not before:
        return
    after = _user_flags(instance)
    for name in _FLAGS:
        if before[name] != after[name]:
            audit_record(
                actor=_actor(),
                verb=_FLAG_VERBS[(name, after[name])],
                target=instance,
                before={name: before[name]},
                after={name: after[name]},
                data={"username": instance.get_username()},
            )


def user_post_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    if _active():
        audit_record(
            actor=_actor(),
            verb="core.user.deleted",
            target=instance,
            before={"username": instance.get_username(), **_user_flags(instance)},
        )


# --- groups -------------------------------------------------------------------------------
def group_post_save(sender: Any, instance: Group, created: bool, raw: bool = False, **kw) -> None:
    if created and not raw and _active():
        audit_record(
            actor=_actor(),
            verb="core.group.created",
            target=instance,
            after={"name": instance.name},
        )


def group_post_delete(sender: Any, instance: Group, **kwargs: Any) -> None:
    if _active():
        audit_record(
            actor=_actor(),
            verb="core.group.deleted",
            target=instance,
            before={"name": instance.name},
        )


# --- relations ----------------------------------------------------------------------------
def _names(model: Any, pks: Iterable[Any]) -> list[str]:
    pks = list(pks)
    if model is Permission:
        rows = Permission.objects.filter(pk__in=pks).values_list(
            "content_type__app_label", "codename"
        )
        return sorted(f"{app}.{codename}" for app, codename in rows)
    if model is Group:
        return sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))
    user_model = get_user_model()
    return sorted(
        user_model._default_manager.filter(pk__in=pks).values_list(
            user_model.USERNAME_FIELD, flat=True
        )
    )


def _m2m(
    *,
    instance: Any,
    action: str,
    reverse: bool,
    model: Any,
    pk_set: set | None,
    attribute: str,
    verbs: tuple[str, str],
) -> None:
    """One handler for user.groups, group.permissions and user.user_permissions (``attribute``
    is the owner's field). ``verbs``: (added, removed), recorded on the owner: the reverse
    side (``group.user_set.add(u)``) is recorded on each user it touches, so an owner's
    history reads the same whichever side made the change."""
    if not _active():
        return
    if action == "pre_clear":
        if reverse:  # e.g. group.user_set.clear(): the owners that hold it now
            owners = model._default_manager.filter(**{attribute: instance})
        else:
            owners = getattr(instance, attribute).all()
        instance._audit_cleared = set(owners.values_list("pk", flat=True))
        return
    if action == "post_clear":
        pk_set = getattr(instance, "_audit_cleared", None)
        instance._audit_cleared = None
        action = "post_remove"
    if action not in {"post_add", "post_remove"} or not pk_set:
        return
    verb = verbs[0] if action == "post_add" else verbs[1]
    if not reverse:
        _record_relation(owner=instance, verb=verb, names=_names(model, pk_set))
        return
    names = _names(type(instance), [instance.pk])
    for owner in model._default_manager.filter(pk__in=pk_set).order_by("pk"):
        _record_relation(owner=owner, verb=verb, names=names)


def _record_relation(*, owner: Any, verb: str, names: list[str]) -> None:
    label = owner.get_username() if hasattr(owner, "get_username") else owner.name
    kind = "groups" if verb.startswith("core.user.group") else "permissions"
    audit_record(actor=_actor(), verb=verb, target=owner, data={"name": label, kind: names})


def user_groups_changed(sender: Any, **kwargs: Any) -> None:
    _m2m(
        **_m2m_args(kwargs),
        attribute="groups",
        verbs=("core.user.group_added", "core.user.group_removed"),
    )


def user_permissions_changed(sender: Any, **kwargs: Any) -> None:
    _m2m(
        **_m2m_args(kwargs),
        attribute="user_permissions",
        verbs=("core.user.permission_added", "core.user.permission_removed"),
    )


def group_permissions_changed(sender: Any, **kwargs: Any) -> None:
    _m2m(
        **_m2m_args(kwargs),
        attribute="permissions",
        verbs=("core.group.permission_added", "core.group.permission_removed"),
    )


def _m2m_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    keys = ("instance", "action", "reverse", "model", "pk_set")
    return {key: kwargs[key] for key in keys}


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(user_pre_save, sender=user_model, dispatch_uid="core-audit-user-pre")
    post_save.connect(user_post_save, sender=user_model, dispatch_uid="core-audit-user-post")
    post_delete.connect(user_post_delete, sender=user_model, dispatch_uid="core-audit-user-del")
    post_save.connect(group_post_save, sender=Group, dispatch_uid="core-audit-group-post")
    post_delete.connect(group_post_delete, sender=Group, dispatch_uid="core-audit-group-del")
    m2m_changed.connect(
        user_groups_changed, sender=user_model.groups.through, dispatch_uid="core-audit-user-groups"
    )
    m2m_changed.connect(
        user_permissions_changed,
        sender=user_model.user_permissions.through,
        dispatch_uid="core-audit-user-perms",
    )
    m2m_changed.connect(
        group_permissions_changed,
        sender=Group.permissions.through,
        dispatch_uid="core-audit-group-perms",
    )

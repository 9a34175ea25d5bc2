"""Name a model's owners: the people told when its monitors fire or its mode changes
(``MLModel.owners``, beside the free-text owner team)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import roles
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import PermissionDenied, ServiceError
from reviewapp.models import MLModel

# Who may own a model: someone who reads its fail-safe pages and alerts. A catalog editor
# with no other role reads neither, so would be told about alerts they cannot open.
OWNER_ROLES = (roles.REVIEWER, roles.LEAD, roles.COMMITTEE, roles.ENGINEER)
MAX_OWNERS = 20


def _invalid(message: str) -> ServiceError:
    return ServiceError(message, errors={"owners": [message]})


def model_owners_set(*, model: MLModel, owners: Iterable[str], user: Any) -> list[str]:
    """Replace ``model``'s owners with the users named in ``owners`` (usernames). Leads only
    (403). Every name must be an active user with a role other than only catalog editor
    (400 on ``owners`` naming the ones that are not); an empty list removes every owner.
    Audited ``failsafe.model_owners.changed`` with the usernames before and after; nothing is
    written (and no event) when the set does not change. Returns the owners' usernames."""
    if not roles.has_role(user, roles.LEAD):
        raise PermissionDenied(_("Only a lead may name a model's owners."))
    names: list[str] = []
    for raw in owners:
        if not isinstance(raw, str):
            raise _invalid(_("Give usernames."))
        name = raw.strip()
        if name and name not in names:
            names.append(name)
    if len(names) > MAX_OWNERS:
        raise _invalid(_("At most %d owners.") % MAX_OWNERS)
    user_model = get_user_model()
    field = user_model.USERNAME_FIELD
    found = {
        u.get_username(): u
        for u in user_model._default_manager.filter(**{f"{field}__in": names}).prefetch_related(
            "groups"
        )
    }
    unknown = [n for n in names if n not in found]
    if unknown:
        raise _invalid(_("No such user: %s.") % ", ".join(unknown))
    inactive = [n for n in names if not found[n].is_active]
    if inactive:
        raise _invalid(_("Not an active user: %s.") % ", ".join(inactive))
    roleless = [
        n
        for n in names
        if not roles.remember_roles(found[n], [g.name for g in found[n].groups.all()])
        & set(OWNER_ROLES)
    ]
    if roleless:
        raise _invalid(
            _("Cannot own a model (needs the reviewer, lead, committee or engineer role): %s.")
            % ", ".join(roleless)
        )
    with transaction.atomic():
        model = MLModel.objects.select_for_update().get(pk=model.pk)
        before = sorted(model.owners.values_list(field, flat=True))
        after = sorted(names)
        if before == after:
            return after
        model.owners.set([found[n] for n in names])
        audit_record(
            actor=Actor.user(user),
            verb="failsafe.model_owners.changed",
            target=model,
            before={"owners": before},
            after={"owners": after},
        )
    return after


def model_owner_names(model: MLModel) -> list[str]:
    """The model's owners' usernames, sorted (prefetch ``owners`` to spare the query)."""
    return sorted(u.get_username() for u in model.owners.all())

"""Who must sign in with a second factor (``settings.OTP_REQUIRED_ROLES``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from reviewapp.core import roles

# Besides the role names, the setting may name these two flags of Django's user model.
SUPERUSER = "superuser"
STAFF = "staff"
KNOWN = {*roles.ROLES, SUPERUSER, STAFF}


def second_factor_required(user: Any) -> bool:
    wanted = set(settings.OTP_REQUIRED_ROLES)
    if not wanted or not getattr(user, "is_authenticated", False):
        return False
    if SUPERUSER in wanted and user.is_superuser:
        return True
    if STAFF in wanted and user.is_staff:
        return True
    return bool(roles.user_roles(user) & wanted)

"""The accounts app's audit verbs (``accounts.``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reviewapp.core import verbs as core_verbs

PREFIX = "accounts."

VERBS = {
    "accounts.two_factor.enrolled": _("Two-factor sign-in turned on"),
    "accounts.two_factor.removed": _("Two-factor sign-in turned off"),
    "accounts.two_factor.recovery_code_used": _("Signed in with a recovery code"),
    "accounts.two_factor.recovery_codes_regenerated": _("New recovery codes made"),
    "accounts.api_token.created": _("Personal API token created"),
    "accounts.api_token.revoked": _("Personal API token revoked"),
    "accounts.password.changed": _("Password changed"),
    "accounts.preference.changed": _("Preferences changed"),
}


def register_audit_verbs() -> None:
    core_verbs.register(prefix=PREFIX, verbs=VERBS)

"""Governance's audit verbs (``governance.``): label of each, and the names they replaced."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reviewapp.core import verbs as core_verbs

PREFIX = "governance."

VERBS = {
    "governance.policy_version.created": _("Policy version created"),
    "governance.policy_version.activated": _("Policy version activated"),
}

LEGACY = {
    "policy.created": "governance.policy_version.created",
    "policy.activated": "governance.policy_version.activated",
}


def register_audit_verbs() -> None:
    core_verbs.register(prefix=PREFIX, verbs=VERBS, legacy=LEGACY)

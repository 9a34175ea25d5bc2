"""The dashboards' audit verbs (``dashboards.``): label of each, and the names they replaced."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reviewapp.core import verbs as core_verbs

PREFIX = "dashboards."

VERBS = {
    "dashboards.rollups.rebuilt": _("Rollups rebuilt"),
}

LEGACY = {
    "dashboards.rollups_rebuilt": "dashboards.rollups.rebuilt",
}


def register_audit_verbs() -> None:
    core_verbs.register(prefix=PREFIX, verbs=VERBS, legacy=LEGACY)

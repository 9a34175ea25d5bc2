"""The playbooks app's audit verbs (``playbooks.``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reviewapp.core import verbs as core_verbs

PREFIX = "playbooks."

VERBS = {
    "playbooks.playbook.created": _("Playbook written"),
    "playbooks.playbook.drafted": _("Playbook drafted from a catalog entry"),
    "playbooks.playbook.revised": _("Playbook edited (a new version)"),
    "playbooks.playbook.published": _("Playbook published"),
    "playbooks.playbook.retired": _("Playbook retired"),
    "playbooks.playbook.reinstated": _("Playbook reinstated"),
}


def register_audit_verbs() -> None:
    core_verbs.register(prefix=PREFIX, verbs=VERBS, legacy={})

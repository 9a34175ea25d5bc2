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
    "playbooks.incident.opened": _("Incident opened"),
    "playbooks.incident.triaged": _("Incident triaged"),
    "playbooks.incident.contained": _("Incident marked contained"),
    "playbooks.incident.remediated": _("Incident marked remediated"),
    "playbooks.incident.verified": _("Incident verified"),
    "playbooks.incident.reopened": _("Incident reopened (verification failed)"),
    "playbooks.incident.closed": _("Incident closed"),
    "playbooks.incident.cancelled": _("Incident cancelled"),
    "playbooks.incident.edited": _("Incident edited"),
    "playbooks.incident.commander_set": _("Incident commander changed"),
    "playbooks.incident.member_added": _("Person added to an incident"),
    "playbooks.incident.member_removed": _("Person removed from an incident"),
    "playbooks.incident.linked": _("Models, alerts, items or failure modes linked to an incident"),
    "playbooks.incident.noted": _("Note on an incident's timeline"),
    "playbooks.incident.step_recorded": _("Playbook step recorded on an incident's checklist"),
    "playbooks.incident.step_undone": _("Last checklist record undone by its author"),
    "playbooks.incident.playbook_pinned": _("Playbook pinned to an incident"),
    "playbooks.incident.communication_sent": _("Incident update recorded as sent"),
    "playbooks.incident.recovery_simulated": _("Recovery path simulated (impact replay)"),
    "playbooks.incident.recovery_chosen": _("Recovery path chosen for an incident"),
    "playbooks.incident.recheck_queued": _("Affected predictions queued for re-review"),
    "playbooks.hypothesis.added": _("Root-cause hypothesis added"),
    "playbooks.hypothesis.edited": _("Root-cause hypothesis edited"),
    "playbooks.hypothesis.confirmed": _("Root-cause hypothesis confirmed"),
    "playbooks.hypothesis.refuted": _("Root-cause hypothesis refuted"),
    "playbooks.hypothesis.reopened": _("Root-cause hypothesis reopened"),
    "playbooks.postmortem.started": _("Post-mortem started"),
    "playbooks.postmortem.edited": _("Post-mortem edited"),
    "playbooks.postmortem.published": _("Post-mortem published"),
    "playbooks.postmortem.catalog_drafted": _("Catalog update drafted from a post-mortem"),
    "playbooks.action_item.added": _("Action item added"),
    "playbooks.action_item.edited": _("Action item edited"),
    "playbooks.action_item.done": _("Action item done"),
    "playbooks.action_item.cancelled": _("Action item cancelled"),
    "playbooks.action_item.overdue_reminded": _("Owner reminded of an overdue action item"),
}


def register_audit_verbs() -> None:
    core_verbs.register(prefix=PREFIX, verbs=VERBS, legacy={})

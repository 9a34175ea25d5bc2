"""Governance's audit verbs (``governance.``): label of each, and the names they replaced."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reviewapp.core import verbs as core_verbs

PREFIX = "governance."

VERBS = {
    "governance.policy_version.created": _("Policy version created"),
    "governance.policy_version.activated": _("Policy version activated"),
    "governance.document_version.created": _("Document version created"),
    "governance.document_version.activated": _("Document version activated"),
    "governance.approval_rule.changed": _("Approval rule changed"),
    "governance.change_request.created": _("Change request proposed"),
    "governance.change_request.edited": _("Change request edited"),
    "governance.change_request.submitted": _("Submitted for review"),
    "governance.change_request.returned": _("Changes requested"),
    "governance.change_request.resubmitted": _("Resubmitted for review"),
    "governance.change_request.voted": _("Approval given"),
    "governance.change_request.approved": _("Approved (quorum reached)"),
    "governance.change_request.scheduled": _("Scheduled"),
    "governance.change_request.applied": _("Applied"),
    "governance.change_request.rejected": _("Rejected"),
    "governance.change_request.withdrawn": _("Withdrawn"),
    "governance.change_request.expired": _("Expired"),
    "governance.change_request.marked_stale": _("Stale: the active version moved"),
    "governance.change_request.rebased": _("Rebased"),
    "governance.change_request.commented": _("Commented"),
    "governance.change_request.evidence_recorded": _("Evidence recorded"),
    "governance.change_request.evidence_failed": _("Evidence could not be computed"),
    "governance.change_request.shadow_started": _("Shadow period started"),
    "governance.change_request.rolled_back": _("Emergency rollback"),
    "governance.change_request.ratified": _("Emergency rollback ratified"),
    "governance.change_request.ratification_overdue": _("Ratification overdue"),
    "governance.change_request.ratification_reminded": _("Committee reminded to ratify"),
    "governance.change_request.trigger_fired": _("Rollback trigger fired"),
    "governance.shadow_outcome.recorded": _("Shadow outcomes recorded"),
}

LEGACY = {
    "policy.created": "governance.policy_version.created",
    "policy.activated": "governance.policy_version.activated",
}


def register_audit_verbs() -> None:
    core_verbs.register(prefix=PREFIX, verbs=VERBS, legacy=LEGACY)

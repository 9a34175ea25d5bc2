"""Governance's write services: every write of the app goes through one of these."""

from .approvals import (
    change_request_apply,
    change_request_approve,
    change_request_shadow_end,
    change_requests_apply_due,
    change_requests_expire,
)
from .change_requests import (
    UNSET,
    change_request_comment,
    change_request_create,
    change_request_edit,
    change_request_evidence_set,
    change_request_rebase,
    change_request_reject,
    change_request_request_changes,
    change_request_resubmit,
    change_request_submit,
    change_request_withdraw,
)
from .policies import policy_version_activate, policy_version_create
from .rollback import (
    change_request_bootstrap,
    change_request_ratify,
    change_request_rollback_draft,
    emergency_ratification_reminders,
    emergency_ratifications_overdue,
    emergency_rollback,
    emergency_rollback_as,
)
from .rules_admin import approval_rule_set
from .shadow import shadow_outcomes_record
from .triggers import rollback_triggers_check

__all__ = [
    "UNSET",
    "approval_rule_set",
    "change_request_apply",
    "change_request_approve",
    "change_request_bootstrap",
    "change_request_comment",
    "change_request_create",
    "change_request_edit",
    "change_request_evidence_set",
    "change_request_ratify",
    "change_request_rebase",
    "change_request_reject",
    "change_request_request_changes",
    "change_request_resubmit",
    "change_request_rollback_draft",
    "change_request_shadow_end",
    "change_request_submit",
    "change_request_withdraw",
    "change_requests_apply_due",
    "change_requests_expire",
    "emergency_ratification_reminders",
    "emergency_ratifications_overdue",
    "emergency_rollback",
    "emergency_rollback_as",
    "policy_version_activate",
    "policy_version_create",
    "rollback_triggers_check",
    "shadow_outcomes_record",
]

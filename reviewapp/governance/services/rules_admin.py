"""A model's approval rule: a named approver group and/or a fixed number of approvals."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import clock
from reviewapp.core.audit import audit_record
from reviewapp.core.exceptions import PermissionDenied, ServiceError

from ..models import ApprovalRule
from .common import actor_of
from .documents import model_info


@transaction.atomic
def approval_rule_set(
    *, model_slug: str, user: Any, approver_group: Any = None,
    required_approvals: int | None = None,
) -> ApprovalRule:  # fmt: skip
    """Superusers only (who approves is above the committee's own say)."""
    if not getattr(user, "is_superuser", False):
        raise PermissionDenied(_("Only an administrator sets who approves."))
    model_info(model_slug)
    if required_approvals is not None and (
        isinstance(required_approvals, bool)
        or not isinstance(required_approvals, int)
        or not 1 <= required_approvals <= 20
    ):
        raise ServiceError(
            _("Bad number."), errors={"required_approvals": [_("Whole number from 1 to 20.")]}
        )
    rule = ApprovalRule.objects.select_for_update().filter(model_slug=model_slug).first()
    before = (
        {"approver_group": rule.approver_group_id, "required_approvals": rule.required_approvals}
        if rule
        else None
    )
    rule = rule or ApprovalRule(model_slug=model_slug)
    rule.approver_group = approver_group
    rule.required_approvals = required_approvals
    rule.updated_at = clock.now()
    rule.save()
    audit_record(
        actor=actor_of(user),
        verb="governance.approval_rule.changed",
        target=rule,
        before=before,
        after={"approver_group": rule.approver_group_id, "required_approvals": required_approvals},
        data={"model": model_slug},
    )
    return rule

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from reviewapp.core import registry
from reviewapp.core.roles import COMMITTEE, has_role

from .models import Approval, ApprovalRule, ChangeRequest, DocumentVersion, PolicyVersion


def active_policies(model_slugs: Iterable[str]) -> dict[str, PolicyVersion]:
    return {
        p.model_slug: p
        for p in PolicyVersion.objects.filter(model_slug__in=set(model_slugs), is_active=True)
    }


def policy_versions_for(model_slug: str):
    return PolicyVersion.objects.filter(model_slug=model_slug).select_related("created_by")


# --- change requests ----------------------------------------------------------------------


def change_requests(
    *, model_slug: str | None = None, status: str | None = None, kind: str | None = None
) -> QuerySet[ChangeRequest]:
    qs = ChangeRequest.objects.select_related("proposer", "stale_by", "ratified_by")
    if model_slug:
        qs = qs.filter(model_slug=model_slug)
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    return qs


def change_request_get(change_request_id: int) -> ChangeRequest | None:
    return (
        change_requests().prefetch_related("comments__author").filter(pk=change_request_id).first()
    )


def live_approvals(change_request: ChangeRequest) -> QuerySet[Approval]:
    """The votes that count: not lapsed, cast on the current revision and evidence."""
    return Approval.objects.filter(
        change_request=change_request,
        lapsed_at__isnull=True,
        revision=change_request.revision,
        evidence_hash=change_request.evidence_hash,
    ).select_related("user")


def approval_rule_of(model_slug: str) -> ApprovalRule | None:
    return (
        ApprovalRule.objects.filter(model_slug=model_slug).select_related("approver_group").first()
    )


def eligible_voters(model_slug: str, *, exclude_user_id: int | None = None) -> QuerySet:
    """Active users who may vote on the model's requests: the named approver group's members,
    or the committee's; superusers too (they hold every role). The proposer is excluded."""
    rule = approval_rule_of(model_slug)
    group_q = (
        Q(groups=rule.approver_group) if rule and rule.approver_group else Q(groups__name=COMMITTEE)
    )
    qs = get_user_model().objects.filter(is_active=True).filter(group_q | Q(is_superuser=True))
    if exclude_user_id is not None:
        qs = qs.exclude(pk=exclude_user_id)
    return qs.distinct()


def may_vote(user, model_slug: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    rule = approval_rule_of(model_slug)
    if rule and rule.approver_group:
        return user.groups.filter(pk=rule.approver_group_id).exists()
    return has_role(user, COMMITTEE)


@dataclass(frozen=True)
class Quorum:
    base: int  # by the model's criticality tier, or its approval rule
    reasons: tuple[str, ...]  # why more approvals are needed (proportional quorum)
    wanted: int  # base + one when any reason holds
    eligible: int  # voters other than the proposer
    required: int  # wanted, capped by eligible, at least 1
    approvals: int  # live votes
    committee_too_small: bool

    @property
    def reached(self) -> bool:
        return self.approvals >= self.required


def proportional_reasons(summary: dict) -> tuple[str, ...]:
    """Why the stored evidence summary asks for one more approval (docs/policies.md)."""
    reasons = []
    change = summary.get("reviewed_volume_change")
    if isinstance(change, int | float) and abs(change) > settings.GOVERNANCE_VOLUME_CHANGE_LIMIT:
        reasons.append(
            _("Reviewed volume moves by %(pct)d %%.") % {"pct": round(abs(change) * 100)}
        )
    escaping = summary.get("escaping_errors_delta")
    if isinstance(escaping, int | float) and escaping > 0:
        reasons.append(_("Errors escaping review increase by %(n)s.") % {"n": escaping})
    if summary.get("calibration_warning") is True:
        reasons.append(_("Calibration warning: the tolerated error rate may be exceeded."))
    return tuple(reasons)


def quorum(change_request: ChangeRequest) -> Quorum:
    rule = approval_rule_of(change_request.model_slug)
    if rule and rule.required_approvals:
        base = rule.required_approvals
    else:
        criticality = _criticality(change_request.model_slug)
        base = settings.GOVERNANCE_REQUIRED_APPROVALS.get(criticality, 2)
    reasons = proportional_reasons(change_request.evidence_summary or {})
    wanted = base + (1 if reasons else 0)
    eligible = eligible_voters(
        change_request.model_slug, exclude_user_id=change_request.proposer_id
    ).count()
    return Quorum(
        base=base,
        reasons=reasons,
        wanted=wanted,
        eligible=eligible,
        required=max(1, min(wanted, eligible)),
        approvals=live_approvals(change_request).count(),
        committee_too_small=wanted > eligible,
    )


def _criticality(model_slug: str) -> str:
    for info in registry.run_hooks("governance.model_info", model_slug=model_slug):
        return info.get("criticality", "high")
    return "high"


def emergency_rollbacks_awaiting_ratification() -> QuerySet[ChangeRequest]:
    return change_requests().filter(is_emergency=True, ratified_at__isnull=True)


# --- the change-request pages -------------------------------------------------------------
def governed_model_slugs() -> list[str]:
    """Models with any governed document: the ones a proposer picks from (a model's first
    version is a bootstrap, made by the system, not proposed on the page)."""
    slugs = set(PolicyVersion.objects.order_by().values_list("model_slug", flat=True).distinct())
    slugs |= set(DocumentVersion.objects.order_by().values_list("model_slug", flat=True).distinct())
    return sorted(slugs)


def voter_scope(user) -> tuple[bool, set[str]]:
    """(votes on every model's requests, models whose approver group the user is in), in two
    queries, instead of ``may_vote`` per request."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False, set()
    rules = list(ApprovalRule.objects.filter(approver_group__isnull=False))
    group_ids = set(user.groups.values_list("id", flat=True)) if rules else set()
    own = {r.model_slug for r in rules if r.approver_group_id in group_ids}
    if user.is_superuser:
        return True, own
    return has_role(user, COMMITTEE), own


def change_requests_awaiting_vote(user) -> QuerySet[ChangeRequest]:
    """In review, not stale, not the user's own, no live vote of theirs yet, on a model whose
    requests they vote on."""
    committee, own = voter_scope(user)
    qs = change_requests(status=ChangeRequest.Status.IN_REVIEW).filter(stale=False)
    qs = qs.exclude(proposer=user).exclude(approvals__user=user, approvals__lapsed_at__isnull=True)
    grouped = set(ApprovalRule.objects.filter(approver_group__isnull=False).values_list(
        "model_slug", flat=True
    ))  # fmt: skip
    if committee:
        # The committee votes on every model without a named approver group.
        return qs.filter(Q(model_slug__in=own) | ~Q(model_slug__in=grouped))
    return qs.filter(model_slug__in=own)


def change_requests_stale_or_scheduled() -> QuerySet[ChangeRequest]:
    S = ChangeRequest.Status
    return change_requests().filter(
        Q(stale=True, status__in=ChangeRequest.OPEN) | Q(status__in=[S.SCHEDULED, S.SHADOW])
    )


def change_requests_recently_applied(limit: int = 10) -> list[ChangeRequest]:
    return list(
        change_requests(status=ChangeRequest.Status.APPLIED).order_by("-applied_at", "-id")[:limit]
    )


def change_request_votes(change_request: ChangeRequest) -> list[Approval]:
    """Every vote, lapsed ones included (for the record), oldest first."""
    return list(change_request.approvals.select_related("user").order_by("created_at", "id"))


def status_counts(**filters: str | None) -> dict[str, int]:
    qs = change_requests(**{k: v for k, v in filters.items() if k != "status"})
    return dict(qs.order_by().values_list("status").annotate(n=Count("id")))

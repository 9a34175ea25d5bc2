from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from reviewapp.core import registry
from reviewapp.core.roles import COMMITTEE, has_role

from .models import (
    Approval,
    ApprovalRule,
    ChangeRequest,
    DocumentKind,
    PolicyVersion,
    ShadowOutcome,
)


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


# --- shadow periods -----------------------------------------------------------------------


def shadow_proposals() -> dict[str, list[tuple[int, dict]]]:
    """{model slug: [(request id, proposed rules)]} of routing-policy requests in their shadow
    period and not stale (a stale one is suspended: it records nothing). One query."""
    found: dict[str, list[tuple[int, dict]]] = {}
    rows = ChangeRequest.objects.filter(
        status=ChangeRequest.Status.SHADOW, stale=False, kind=DocumentKind.ROUTING_POLICY
    ).order_by("pk")
    for pk, slug, rules in rows.values_list("pk", "model_slug", "document"):
        found.setdefault(slug, []).append((pk, rules))
    return found


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def shadow_summary(change_request: ChangeRequest) -> dict:
    """What the proposal would have decided during the shadow period, beside live routing:
    predictions seen, agreement (same routed / not routed decision), the would-be routed
    volume against what was really routed, in total and per UTC day (oldest first). One
    query. Empty figures (``agreement_rate`` None) before any prediction was seen."""
    per_day = (
        ShadowOutcome.objects.filter(change_request=change_request)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(
            predictions=Count("id"),
            agreed=Count("id", filter=Q(routed=F("recorded_routed"))),
            would_route=Count("id", filter=Q(routed=True)),
            routed=Count("id", filter=Q(recorded_routed=True)),
        )
        .order_by("day")
    )
    days = [
        {
            "day": row["day"].isoformat(),
            "predictions": row["predictions"],
            "agreed": row["agreed"],
            "agreement_rate": _rate(row["agreed"], row["predictions"]),
            "would_route": row["would_route"],
            "routed": row["routed"],
        }
        for row in per_day
    ]
    total = {
        key: sum(d[key] for d in days) for key in ("predictions", "agreed", "would_route", "routed")
    }

    def iso(value):
        return value.astimezone(dt.UTC).isoformat() if value else None

    return {
        "started_at": iso(change_request.shadow_started_at),
        "ends_at": iso(change_request.shadow_ends_at),
        **total,
        "agreement_rate": _rate(total["agreed"], total["predictions"]),
        "days": days,
    }

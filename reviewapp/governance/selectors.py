from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from reviewapp.core import registry
from reviewapp.core.models import AuditEvent
from reviewapp.core.roles import COMMITTEE, ENGINEER, LEAD, has_role

from . import review_quality
from .models import (
    Approval,
    ApprovalRule,
    ChangeRequest,
    DocumentKind,
    DocumentVersion,
    PolicyVersion,
    ShadowOutcome,
)

# The queue offers {slug: {"labels", "criticality"}} of many models at once (reviewapp/apps.py).
MODEL_INFOS_HOOK = "governance.model_infos"
# The queue offers the model a principal may read by slug (None: unknown or not theirs).
VISIBLE_MODEL_HOOK = "governance.visible_model"


def visible_model(principal, slug: str):
    """The model (the queue's row) with ``slug`` if ``principal`` may read it, else None: the
    visibility rule of the model's predictions (pools for reviewers, roles for everyone)."""
    for model in registry.run_hooks(VISIBLE_MODEL_HOOK, principal=principal, slug=slug):
        return model
    return None


# The dashboards offer {metric name: what it measures, in words} (reviewapp/dashboards/apps.py).
METRIC_LABELS_HOOK = "governance.metric_labels"
TRIGGER_FIRED_VERB = "governance.change_request.trigger_fired"


def active_policies(model_slugs: Iterable[str]) -> dict[str, PolicyVersion]:
    return {
        p.model_slug: p
        for p in PolicyVersion.objects.filter(model_slug__in=set(model_slugs), is_active=True)
    }


# --- review quality (masking) ------------------------------------------------------------------
def review_quality_settings(model_slugs: Iterable[str]) -> dict[str, dict]:
    """{slug: effective review-quality settings} of the models, in one query: each model's
    active ``review_quality`` version over the defaults (routing reads it once per chunk; the
    queue may not import the quality app, whose ``quality_settings`` reads one model)."""
    slugs = set(model_slugs)
    documents = dict(
        DocumentVersion.objects.filter(
            model_slug__in=slugs, kind=DocumentKind.REVIEW_QUALITY, is_active=True
        ).values_list("model_slug", "document")
    )
    return {slug: review_quality.effective(documents.get(slug)) for slug in slugs}


# --- end review quality (masking) --------------------------------------------------------------


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


def _quorum_of(
    change_request: ChangeRequest, *, rule: ApprovalRule | None, criticality: str, eligible: int,
    approvals: int,
) -> Quorum:  # fmt: skip
    """The one definition of a request's quorum, from what the callers loaded."""
    if rule and rule.required_approvals:
        base = rule.required_approvals
    else:
        base = settings.GOVERNANCE_REQUIRED_APPROVALS.get(criticality, 2)
    reasons = proportional_reasons(change_request.evidence_summary or {})
    wanted = base + (1 if reasons else 0)
    return Quorum(
        base=base,
        reasons=reasons,
        wanted=wanted,
        eligible=eligible,
        required=max(1, min(wanted, eligible)),
        approvals=approvals,
        committee_too_small=wanted > eligible,
    )


def quorum(change_request: ChangeRequest) -> Quorum:
    return _quorum_of(
        change_request,
        rule=approval_rule_of(change_request.model_slug),
        criticality=_criticality(change_request.model_slug),
        eligible=eligible_voters(
            change_request.model_slug, exclude_user_id=change_request.proposer_id
        ).count(),
        approvals=live_approvals(change_request).count(),
    )


def _criticality(model_slug: str) -> str:
    for info in registry.run_hooks("governance.model_info", model_slug=model_slug):
        return info.get("criticality", "high")
    return "high"


def live_approvals_of(change_requests: Sequence[ChangeRequest]) -> dict[int, list[Approval]]:
    """{request id: its live votes, oldest first} for a page of requests, in one query (the
    same votes as :func:`live_approvals`)."""
    by_id = {cr.pk: cr for cr in change_requests}
    out: dict[int, list[Approval]] = {pk: [] for pk in by_id}
    if not by_id:
        return out
    votes = Approval.objects.filter(
        change_request_id__in=by_id, lapsed_at__isnull=True
    ).select_related("user")
    for vote in votes:
        cr = by_id[vote.change_request_id]
        if vote.revision == cr.revision and vote.evidence_hash == cr.evidence_hash:
            out[cr.pk].append(vote)
    return out


def quorums(
    change_requests: Sequence[ChangeRequest], *, live: dict[int, list[Approval]] | None = None
) -> dict[int, Quorum]:
    """{request id: :func:`quorum`} for a page of requests in a bounded number of queries
    (approval rules, criticalities, voters, votes), whatever the number of requests or
    models. ``live``: the votes from :func:`live_approvals_of`, when the caller has them."""
    if not change_requests:
        return {}
    live = live_approvals_of(change_requests) if live is None else live
    slugs = {cr.model_slug for cr in change_requests}
    rules = {r.model_slug: r for r in ApprovalRule.objects.filter(model_slug__in=slugs)}
    criticalities = _criticalities(slugs)
    named = {r.approver_group_id for r in rules.values() if r.approver_group_id}
    user_model = get_user_model()
    members: dict[int | str, set[int]] = {COMMITTEE: set(), **{g: set() for g in named}}
    memberships = user_model.groups.through.objects.filter(
        Q(group__name=COMMITTEE) | Q(group_id__in=named), user__is_active=True
    ).values_list("user_id", "group_id", "group__name")
    for user_id, group_id, group_name in memberships:
        if group_id in named:
            members[group_id].add(user_id)
        if group_name == COMMITTEE:
            members[COMMITTEE].add(user_id)
    superusers = set(
        user_model.objects.filter(is_active=True, is_superuser=True).values_list("pk", flat=True)
    )
    out = {}
    for cr in change_requests:
        rule = rules.get(cr.model_slug)
        group = rule.approver_group_id if rule and rule.approver_group_id else COMMITTEE
        voters = (members[group] | superusers) - {cr.proposer_id}
        out[cr.pk] = _quorum_of(
            cr,
            rule=rule,
            criticality=criticalities.get(cr.model_slug, "high"),
            eligible=len(voters),
            approvals=len(live.get(cr.pk, [])),
        )
    return out


def _criticalities(model_slugs: Iterable[str]) -> dict[str, str]:
    """{slug: criticality tier} of registered models, through the queue's bulk hook."""
    for infos in registry.run_hooks(MODEL_INFOS_HOOK, model_slugs=sorted(model_slugs)):
        return {slug: info.get("criticality", "high") for slug, info in infos.items()}
    return {slug: _criticality(slug) for slug in model_slugs}


def emergency_rollbacks_awaiting_ratification() -> QuerySet[ChangeRequest]:
    return change_requests().filter(is_emergency=True, ratified_at__isnull=True)


# --- the change-request pages -------------------------------------------------------------
def governed_model_slugs() -> list[str]:
    """Models with any governed document (the list page's model filter)."""
    slugs = set(PolicyVersion.objects.order_by().values_list("model_slug", flat=True).distinct())
    slugs |= set(DocumentVersion.objects.order_by().values_list("model_slug", flat=True).distinct())
    return sorted(slugs)


def proposable_model_slugs() -> list[str]:
    """Every registered model, governed or not: the ones a proposer picks from. A model with
    no version of a document yet gets its first one through a request with no base (the
    queue's bulk hook answers every model when asked for ``model_slugs=None``)."""
    slugs: set[str] = set()
    for infos in registry.run_hooks(MODEL_INFOS_HOOK, model_slugs=None):
        slugs |= set(infos)
    return sorted(slugs | set(governed_model_slugs()))


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


def may_read_change_requests(user) -> bool:
    """Committee members, leads and engineers read every change request; so does a member of
    a model's named approver group (they vote, so they must see the evidence). Never a
    producer's service token."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "is_service", False):
        return False
    if has_role(user, COMMITTEE, LEAD, ENGINEER):
        return True
    return ApprovalRule.objects.filter(approver_group__user=user).exists()


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
    return shadow_summaries([change_request])[change_request.pk]


def shadow_summaries(change_requests: Sequence[ChangeRequest]) -> dict[int, dict]:
    """{request id: :func:`shadow_summary`} of a page of requests in one query."""
    ids = [cr.pk for cr in change_requests]
    # Only the current period: a request rebased and approved again starts a new one.
    current = Q(pk__in=[])
    for cr in change_requests:
        if cr.shadow_started_at is not None:
            current |= Q(change_request_id=cr.pk, created_at__gte=cr.shadow_started_at)
    per_day = (
        ShadowOutcome.objects.filter(current)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values("change_request_id", "day")
        .annotate(
            predictions=Count("id"),
            agreed=Count("id", filter=Q(routed=F("recorded_routed"))),
            would_route=Count("id", filter=Q(routed=True)),
            routed=Count("id", filter=Q(recorded_routed=True)),
        )
        .order_by("change_request_id", "day")
    )
    days_of: dict[int, list[dict]] = {pk: [] for pk in ids}
    for row in per_day:
        days_of[row["change_request_id"]].append(
            {
                "day": row["day"].isoformat(),
                "predictions": row["predictions"],
                "agreed": row["agreed"],
                "agreement_rate": _rate(row["agreed"], row["predictions"]),
                "would_route": row["would_route"],
                "routed": row["routed"],
            }
        )

    def iso(value):
        return value.astimezone(dt.UTC).isoformat() if value else None

    out = {}
    for cr in change_requests:
        days = days_of[cr.pk]
        total = {
            key: sum(d[key] for d in days)
            for key in ("predictions", "agreed", "would_route", "routed")
        }
        out[cr.pk] = {
            "started_at": iso(cr.shadow_started_at),
            "ends_at": iso(cr.shadow_ends_at),
            **total,
            "agreement_rate": _rate(total["agreed"], total["predictions"]),
            "days": days,
        }
    return out


# --- rollback triggers ---------------------------------------------------------------------


def metric_labels() -> dict[str, str]:
    """{metric name: its label} of the metrics a rollback trigger may watch."""
    labels: dict[str, str] = {}
    for found in registry.run_hooks(METRIC_LABELS_HOOK):
        labels.update({name: str(label) for name, label in found.items()})
    return labels


@dataclass(frozen=True)
class TriggerState:
    """One agreed rollback trigger of a request and what became of it.

    ``state``: ``agreed`` (the request is not applied: nothing is watched yet), ``unused``
    (it closed without being applied), ``watched`` (applied, its version still active),
    ``fired`` (this trigger rolled the version back), ``not_fired`` (another trigger of the
    request fired first), ``ended`` (a newer version was applied: the watch stopped)."""

    metric: str
    metric_label: str
    op: str
    bound: float
    duration_minutes: int
    state: str
    since: dt.datetime | None = None  # watched from / fired at / ended at
    ended_by_version: int | None = None
    ended_by_request: int | None = None  # the request that applied that version
    values: tuple[float | None, ...] = ()  # the 5-minute values that fired it
    breached_since: dt.datetime | None = None  # the first bucket past the bound
    rollback_id: int | None = None
    refused: str = ""


def _when(value: object) -> dt.datetime | None:
    """An ISO 8601 time stored in an audit event's data, as an aware datetime."""
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _version_row(model_slug: str, kind: str, version: int):
    if kind == DocumentKind.ROUTING_POLICY:
        return PolicyVersion.objects.filter(model_slug=model_slug, version=version).first()
    return DocumentVersion.objects.filter(model_slug=model_slug, kind=kind, version=version).first()


def _active_version(model_slug: str, kind: str) -> tuple[int | None, int | None]:
    """(number, request that made it) of the active version of the document."""
    if kind == DocumentKind.ROUTING_POLICY:
        rows = PolicyVersion.objects.filter(model_slug=model_slug, is_active=True)
    else:
        rows = DocumentVersion.objects.filter(model_slug=model_slug, kind=kind, is_active=True)
    return rows.values_list("version", "change_request_id").first() or (None, None)


def version_request_id(model_slug: str, kind: str, version: int | None) -> int | None:
    """The change request that made a version of a document (None: made outside one)."""
    row = _version_row(model_slug, kind, version) if version is not None else None
    return row.change_request_id if row is not None else None


def rollback_trigger_states(change_request: ChangeRequest) -> list[TriggerState]:
    """The request's rollback triggers as agreed, each with what the beat check made of it
    (services/triggers.py): the firing is read from its audit event, the end of the watch
    from the version that replaced the request's. At most three queries."""
    triggers = change_request.rollback_triggers or []
    if not triggers:
        return []
    labels = metric_labels()
    cr = change_request
    S = ChangeRequest.Status
    fired_event = None
    ended_at, ended_by, ended_by_request = None, None, None
    if cr.status != S.APPLIED:
        state = "unused" if cr.status not in ChangeRequest.OPEN else "agreed"
    elif cr.triggers_fired_at is not None:
        state = "not_fired"
        fired_event = (
            AuditEvent.objects.filter(
                verb=TRIGGER_FIRED_VERB,
                target_type=ChangeRequest._meta.label_lower,
                target_id=str(cr.pk),
            )
            .order_by("-id")
            .first()
        )
    else:
        active, active_request = _active_version(cr.model_slug, cr.kind)
        if cr.applied_version is not None and active == cr.applied_version:
            state = "watched"
        else:
            state = "ended"
            ended_by, ended_by_request = active, active_request
            row = (
                _version_row(cr.model_slug, cr.kind, cr.applied_version)
                if cr.applied_version is not None
                else None
            )
            ended_at = row.deactivated_at if row is not None else None
    data = fired_event.data if fired_event is not None else {}
    fired_trigger = data.get("trigger") or {}
    finding = data.get("finding") or {}
    out = []
    for trigger in triggers:
        common = {
            "metric": trigger.get("metric", ""),
            "metric_label": labels.get(trigger.get("metric", ""), ""),
            "op": trigger.get("op", ">"),
            "bound": trigger.get("bound"),
            "duration_minutes": trigger.get("duration_minutes"),
        }
        if state == "not_fired" and all(
            fired_trigger.get(k) == trigger.get(k)
            for k in ("metric", "op", "bound", "duration_minutes")
        ):
            out.append(
                TriggerState(
                    **common,
                    state="fired",
                    since=cr.triggers_fired_at,
                    values=tuple(p.get("value") for p in finding.get("values") or []),
                    breached_since=_when(finding.get("since")),
                    rollback_id=(fired_event.after or {}).get("rollback"),
                    refused=data.get("refused") or "",
                )
            )
            fired_trigger = {}  # two equal triggers: the first one fired
            continue
        since = {"watched": cr.applied_at, "ended": ended_at}.get(state)
        if state == "not_fired":
            since = cr.triggers_fired_at
        out.append(
            TriggerState(
                **common,
                state=state,
                since=since,
                ended_by_version=ended_by,
                ended_by_request=ended_by_request,
            )  # fmt: skip
        )
    return out

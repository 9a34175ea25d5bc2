"""Governance API shapes: the inputs (strict: an undeclared field is a 400 naming it) and the
answers. The answers are built as plain dicts by the functions at the bottom, from the rows
and the quorum the views loaded through the selectors; the ``*Out`` serializers only describe
them for the OpenAPI schema (the schemathesis test holds every answer to it)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviewapp.core.api import StrictInputSerializer, id_field
from reviewapp.core.time import iso_utc, parse_when

from ..models import Approval, ChangeRequest, ChangeRequestComment, DocumentKind, PolicyVersion
from ..selectors import Quorum
from ..services.common import MAX_SHADOW_MINUTES

EvidenceState = ChangeRequest.EvidenceState


# --- input ------------------------------------------------------------------------------------
@extend_schema_field(OpenApiTypes.DATETIME)
class WhenField(serializers.Field):
    """An ISO 8601 date-time (a zone offset, or UTC when none). Read with core's parser, which
    turns out-of-range times into a 400 rather than an overflow."""

    default_error_messages = {"invalid": _("Not an ISO 8601 date-time.")}

    def to_internal_value(self, data: Any) -> Any:
        when = parse_when(data) if isinstance(data, str) else None
        if when is None:
            self.fail("invalid")
        return when

    def to_representation(self, value: Any) -> Any:
        return iso_utc(value)


class TriggerSchema(serializers.Serializer):
    metric = serializers.CharField(help_text="A 5-minute metric of the dashboards.")
    op = serializers.ChoiceField(choices=[">", "<"])
    bound = serializers.FloatField()
    duration_minutes = serializers.IntegerField(min_value=1, max_value=1440)


@extend_schema_field(TriggerSchema(many=True))
class TriggersField(serializers.JSONField):
    """Rollback triggers, checked by the service, which names each bad one
    (``rollback_triggers[1].op``)."""


DOCUMENT_HELP = (
    "The proposed document: routing rules for `routing_policy` (docs/policies.md), the model's "
    'settings for `model_settings`, `{"monitors": [...]}` for `monitors` (docs/failsafe.md).'
)


class ChangeRequestCreateIn(StrictInputSerializer):
    model = serializers.CharField(max_length=100, help_text="The model's slug.")
    kind = serializers.ChoiceField(
        choices=DocumentKind.values, default=DocumentKind.ROUTING_POLICY, required=False
    )
    rules = serializers.DictField(help_text=DOCUMENT_HELP)
    rationale = serializers.CharField(allow_blank=True, trim_whitespace=False)
    scheduled_for = WhenField(required=False, allow_null=True, default=None)
    rollback_triggers = TriggersField(required=False, allow_null=True, default=None)
    shadow_minutes = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=MAX_SHADOW_MINUTES
    )


class ChangeRequestEditIn(StrictInputSerializer):
    """Every field optional: only those sent change. A new document or rationale is a new
    revision (votes lapse); ``scheduled_for: null`` clears the schedule."""

    rules = serializers.DictField(required=False, help_text=DOCUMENT_HELP)
    rationale = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    scheduled_for = WhenField(required=False, allow_null=True)
    rollback_triggers = TriggersField(required=False, allow_null=True)
    shadow_minutes = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_SHADOW_MINUTES
    )


class ApproveIn(StrictInputSerializer):
    evidence_hash = serializers.CharField(
        max_length=64, help_text="`evidence.hash` of the request as you reviewed it."
    )
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    acknowledge_risk = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Required (true) when the evidence carries a calibration warning.",
    )


class CommentIn(StrictInputSerializer):
    comment = serializers.CharField(allow_blank=True, trim_whitespace=False)


class OptionalCommentIn(StrictInputSerializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class DiscussionIn(StrictInputSerializer):
    body = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="Markdown."
    )
    comment = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="Same as `body`."
    )


class EmergencyRollbackIn(StrictInputSerializer):
    to_version = id_field(help_text="The version that was active immediately before the current.")
    reason = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ChangeRequestFilters(serializers.Serializer):
    model = serializers.CharField(required=False, max_length=100)
    status = serializers.ChoiceField(choices=ChangeRequest.Status.values, required=False)
    kind = serializers.ChoiceField(choices=DocumentKind.values, required=False)


# --- answers (schema) -------------------------------------------------------------------------
ERRORS_FIELD = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ApprovalOut(serializers.Serializer):
    user = serializers.CharField(help_text="Username.")
    at = serializers.DateTimeField()
    evidence_hash = serializers.CharField()
    comment = serializers.CharField()


class EvidenceOut(serializers.Serializer):
    hash = serializers.CharField(allow_null=True, help_text="What a vote must send back.")
    state = serializers.ChoiceField(choices=EvidenceState.values)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Why it failed (state `failed` only).",
    )
    summary = serializers.DictField(
        required=False,
        help_text="What quorum and approval read (state `ready` only): reviewed_volume_change, "
        "escaping_errors_delta, calibration_warning, replay_mismatches.",
    )
    report = serializers.JSONField(
        required=False,
        help_text="The computed evidence (state `ready`, one request only; not in lists).",
    )


class CommentOut(serializers.Serializer):
    id = serializers.IntegerField()
    author = serializers.CharField(help_text="Username.")
    at = serializers.DateTimeField()
    body = serializers.CharField(help_text="Markdown source.")
    html = serializers.CharField(help_text="Sanitised HTML.")


class ShadowDayOut(serializers.Serializer):
    day = serializers.DateField(help_text="UTC day.")
    predictions = serializers.IntegerField()
    agreed = serializers.IntegerField(help_text="Routed alike by live routing and the proposal.")
    agreement_rate = serializers.FloatField(allow_null=True)
    would_route = serializers.IntegerField(help_text="Routed to review by the proposal.")
    routed = serializers.IntegerField(help_text="Routed to review by live routing.")


class ShadowOut(serializers.Serializer):
    started_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    predictions = serializers.IntegerField(help_text="Predictions routed during the period.")
    agreed = serializers.IntegerField()
    agreement_rate = serializers.FloatField(allow_null=True, help_text="null before any.")
    would_route = serializers.IntegerField()
    routed = serializers.IntegerField()
    days = ShadowDayOut(many=True, help_text="Oldest first.")


class ChangeRequestOut(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField(help_text="The model's slug.")
    kind = serializers.ChoiceField(choices=DocumentKind.values)
    status = serializers.ChoiceField(choices=ChangeRequest.Status.values)
    stale = serializers.BooleanField()
    stale_version = serializers.IntegerField(allow_null=True)
    stale_by = serializers.CharField(allow_null=True, help_text="Who moved the active version.")
    base_version = serializers.IntegerField(allow_null=True)
    rules = serializers.JSONField(help_text=DOCUMENT_HELP)
    rules_hash = serializers.CharField()
    rationale = serializers.CharField()
    proposer = serializers.CharField(allow_null=True, help_text="Username; null: the system.")
    revision = serializers.IntegerField(help_text="Bumped by every edit of rules or rationale.")
    required_approvals = serializers.IntegerField()
    quorum_reasons = serializers.ListField(
        child=serializers.CharField(), help_text="Why one more approval is required."
    )
    committee_too_small = serializers.BooleanField()
    approvals = ApprovalOut(many=True, help_text="The votes that count now.")
    evidence = EvidenceOut()
    scheduled_for = serializers.DateTimeField(allow_null=True)
    rollback_triggers = TriggerSchema(many=True)
    shadow_minutes = serializers.IntegerField(allow_null=True)
    restores_version = serializers.IntegerField(allow_null=True)
    is_emergency = serializers.BooleanField()
    ratification_due = serializers.DateTimeField(allow_null=True)
    ratified_at = serializers.DateTimeField(allow_null=True)
    ratified_by = serializers.CharField(allow_null=True)
    applied_version = serializers.IntegerField(allow_null=True)
    applied_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    comments = CommentOut(many=True, required=False, help_text="One request only; not in lists.")
    shadow = ShadowOut(
        allow_null=True,
        help_text="The shadow period: null when the request has had none; else what the "
        "proposal would have decided beside live routing, in total and per UTC day.",
    )


class PolicyVersionOut(serializers.Serializer):
    version = serializers.IntegerField()
    rules = serializers.JSONField()
    rules_hash = serializers.CharField()
    is_active = serializers.BooleanField()
    activated_at = serializers.DateTimeField(allow_null=True)
    deactivated_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(allow_null=True, help_text="Username; null: the system.")
    change_request = serializers.IntegerField(allow_null=True)


# --- answers (built) --------------------------------------------------------------------------
def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def evidence_representation(cr: ChangeRequest, *, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"hash": cr.evidence_hash or None, "state": cr.evidence_state}
    if cr.evidence_state == EvidenceState.FAILED:
        out["errors"] = cr.evidence_errors or {}
    elif cr.evidence_state == EvidenceState.READY:
        summary = dict(cr.evidence_summary or {})
        report = summary.pop("evidence", None)
        out["summary"] = summary
        if detail:
            out["report"] = report
    return out


def _approval(vote: Approval) -> dict[str, Any]:
    return {
        "user": vote.user.get_username(),
        "at": iso_utc(vote.created_at),
        "evidence_hash": vote.evidence_hash,
        "comment": vote.comment,
    }


def _comment(comment: ChangeRequestComment) -> dict[str, Any]:
    return {
        "id": comment.pk,
        "author": comment.author.get_username(),
        "at": iso_utc(comment.created_at),
        "body": comment.body,
        "html": comment.html,
    }


def change_request_representation(
    cr: ChangeRequest, *, quorum: Quorum, approvals: list[Approval], detail: bool,
    shadow: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The request as the API shows it. ``detail``: one request (its comments and the
    computed evidence too); a list leaves both out. ``shadow``: its shadow summary, None
    when it has had no shadow period."""
    out: dict[str, Any] = {
        "id": cr.pk,
        "model": cr.model_slug,
        "kind": cr.kind,
        "status": cr.status,
        "stale": cr.stale,
        "stale_version": cr.stale_version,
        "stale_by": (cr.stale_actor or _username(cr.stale_by)) if cr.stale else None,
        "base_version": cr.base_version,
        "rules": cr.document,
        "rules_hash": cr.document_hash,
        "rationale": cr.rationale,
        "proposer": _username(cr.proposer),
        "revision": cr.revision,
        "required_approvals": quorum.required,
        "quorum_reasons": [str(reason) for reason in quorum.reasons],
        "committee_too_small": quorum.committee_too_small,
        "approvals": [_approval(vote) for vote in approvals],
        "evidence": evidence_representation(cr, detail=detail),
        "scheduled_for": iso_utc(cr.scheduled_for),
        "rollback_triggers": cr.rollback_triggers or [],
        "shadow_minutes": cr.shadow_minutes,
        "restores_version": cr.restores_version,
        "is_emergency": cr.is_emergency,
        "ratification_due": iso_utc(cr.ratification_due),
        "ratified_at": iso_utc(cr.ratified_at),
        "ratified_by": _username(cr.ratified_by),
        "applied_version": cr.applied_version,
        "applied_at": iso_utc(cr.applied_at),
        "created_at": iso_utc(cr.created_at),
        "updated_at": iso_utc(cr.updated_at),
        # Added beside the fixed fields (never renamed them).
        "shadow": shadow,
    }
    if detail:
        out["comments"] = [_comment(c) for c in cr.comments.all()]
    return out


def policy_version_representation(version: PolicyVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "rules": version.rules,
        "rules_hash": version.rules_hash,
        "is_active": version.is_active,
        "activated_at": iso_utc(version.activated_at),
        "deactivated_at": iso_utc(version.deactivated_at),
        "created_at": iso_utc(version.created_at),
        "created_by": _username(version.created_by),
        "change_request": version.change_request_id,
    }

"""The checklist and communications API of an incident:

- ``GET  /api/v1/incidents/{id}/checklist``: the pinned version's steps with their state
  (or, with no playbook pinned, the proposed playbooks);
- ``POST /api/v1/incidents/{id}/steps``: record a step;
- ``POST /api/v1/incidents/{id}/playbook``: pin a playbook (once; 409 when one is pinned);
- ``GET  /api/v1/incidents/{id}/communications``: the drafts, filled;
- ``POST /api/v1/incidents/{id}/communications``: record a draft as sent.

Same permissions as the page: whoever may read the incident reads (else 404); the services
decide who records, pins and sends (403).
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core import clock
from reviewapp.core.api import StrictInputSerializer

from .. import document as doc_rules
from ..models import Incident
from . import checklist, communications, steps
from .api_common import CanReadIncidents
from .api_common import incident_or_404 as _incident


# --- shapes ---------------------------------------------------------------------------------
class ArtifactOut(serializers.Serializer):
    kind = serializers.ChoiceField(list(doc_rules.ARTIFACT_KINDS))
    label = serializers.CharField()
    value = serializers.CharField()


class ExpectedArtifactOut(serializers.Serializer):
    kind = serializers.ChoiceField(list(doc_rules.ARTIFACT_KINDS))
    label = serializers.CharField()


class BranchOut(serializers.Serializer):
    label = serializers.CharField()
    target = serializers.CharField()


class StepRecordOut(serializers.Serializer):
    seq = serializers.IntegerField()
    step_key = serializers.CharField()
    outcome = serializers.ChoiceField(steps.OUTCOME_VALUES)
    branch = BranchOut(allow_null=True)
    artifacts = ArtifactOut(many=True)
    note = serializers.CharField()
    done_by = serializers.CharField(allow_null=True)
    done_at = serializers.DateTimeField()


class ChecklistStepOut(serializers.Serializer):
    key = serializers.CharField()
    number = serializers.IntegerField()
    title = serializers.CharField()
    phase = serializers.CharField()
    kind = serializers.ChoiceField(list(doc_rules.STEP_KINDS))
    role = serializers.CharField()
    condition = serializers.CharField(help_text="The condition as written ('' for none).")
    condition_result = serializers.ChoiceField(
        ["true", "false", "unknown", ""], help_text="As evaluated against the incident now."
    )
    state = serializers.ChoiceField(list(checklist.STATE_LABELS))
    expected_artifacts = ExpectedArtifactOut(many=True)
    branches = BranchOut(many=True)
    escalate_to = serializers.CharField()
    records = StepRecordOut(many=True)


class ProposalOut(serializers.Serializer):
    slug = serializers.SlugField()
    title = serializers.CharField()
    version = serializers.IntegerField()
    why = serializers.CharField()


class PinnedOut(serializers.Serializer):
    slug = serializers.SlugField()
    title = serializers.CharField()
    version = serializers.IntegerField()


class ChecklistOut(serializers.Serializer):
    incident = serializers.IntegerField()
    playbook = PinnedOut(allow_null=True)
    current = serializers.CharField(allow_null=True, help_text="The step to do now.")
    finished = serializers.BooleanField()
    path = serializers.ListField(child=serializers.CharField())
    steps = ChecklistStepOut(many=True)
    proposals = ProposalOut(many=True, help_text="With no playbook pinned: what would fit.")


class ArtifactIn(StrictInputSerializer):
    label = serializers.CharField(max_length=200, help_text="One the step expects.")
    value = serializers.CharField(max_length=steps.MAX_VALUE, allow_blank=True)
    kind = serializers.ChoiceField(list(doc_rules.ARTIFACT_KINDS), required=False)


class StepIn(StrictInputSerializer):
    step_key = serializers.CharField(max_length=40)
    outcome = serializers.ChoiceField(steps.OUTCOME_VALUES)
    branch = serializers.CharField(
        max_length=120, required=False, allow_blank=True, default="",
        help_text="A decision point's branch label.",
    )  # fmt: skip
    artifacts = serializers.ListField(
        child=ArtifactIn(), max_length=steps.MAX_ARTIFACTS, required=False, default=list
    )
    note = serializers.CharField(
        max_length=steps.MAX_NOTE, required=False, allow_blank=True, default=""
    )


class StepRecordedOut(serializers.Serializer):
    record = StepRecordOut()
    current = serializers.CharField(allow_null=True, help_text="The step to do next.")


class PinIn(StrictInputSerializer):
    playbook = serializers.SlugField(max_length=120)


class DraftOut(serializers.Serializer):
    kind = serializers.ChoiceField(communications.KINDS)
    label = serializers.CharField()
    text = serializers.CharField()


class CommunicationsOut(serializers.Serializer):
    next_update_at = serializers.DateTimeField(allow_null=True)
    overdue = serializers.BooleanField()
    drafts = DraftOut(many=True)


class SentIn(StrictInputSerializer):
    kind = serializers.ChoiceField(communications.KINDS)
    text = serializers.CharField(
        max_length=communications.MAX_TEXT, required=False, allow_blank=True, default="",
        help_text="The text as sent; empty: the draft as it reads now.",
    )  # fmt: skip


class SentOut(serializers.Serializer):
    kind = serializers.ChoiceField(communications.KINDS)
    next_update_at = serializers.DateTimeField()


# --- views ----------------------------------------------------------------------------------
def _record_out(r: checklist.Record) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "step_key": r.step_key,
        "outcome": r.outcome,
        "branch": dict(r.branch) if r.branch else None,
        "artifacts": [dict(a) for a in r.artifacts],
        "note": r.note,
        "done_by": r.done_by,
        "done_at": r.done_at,
    }


def checklist_out(incident: Incident) -> dict[str, Any]:
    found = steps.incident_checklist(incident)
    version = incident.playbook_version
    out: dict[str, Any] = {
        "incident": incident.pk,
        "playbook": {
            "slug": version.playbook.slug,
            "title": version.title,
            "version": version.number,
        }
        if version
        else None,
        "current": found.current if found else None,
        "finished": bool(found and found.finished),
        "path": list(found.path) if found else [],
        "steps": [],
        "proposals": [],
    }
    if found is None:
        out["proposals"] = [
            {"slug": p.slug, "title": p.current.title, "version": p.current.number, "why": why}
            for p, why in steps.playbook_proposals(incident)
        ]
        return out
    for s in found.steps:
        out["steps"].append({
            "key": s.key, "number": s.number, "title": s.title, "phase": s.phase,
            "kind": s.kind, "role": s.role, "condition": s.condition,
            "condition_result": s.condition_result, "state": s.state,
            "expected_artifacts": [dict(a) for a in s.expected_artifacts],
            "branches": [dict(b) for b in s.branches], "escalate_to": s.escalate_to,
            "records": [_record_out(r) for r in s.records],
        })  # fmt: skip
    return out


class ChecklistView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(summary="An incident's checklist", responses={200: ChecklistOut})
    def get(self, request: Request, pk: int) -> Response:
        return Response(checklist_out(_incident(request, pk)))


class StepsView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        summary="Record a step of the incident's playbook",
        request=StepIn,
        responses={
            201: StepRecordedOut,
            403: OpenApiResponse(description="Neither running the incident nor in the role."),
            409: OpenApiResponse(description="No playbook pinned, or the incident is over."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        data = StepIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        saved = steps.incident_step_record(
            incident=incident, actor=request.user, step_key=v["step_key"], outcome=v["outcome"],
            branch=v["branch"], artifacts=[dict(a) for a in v["artifacts"]], note=v["note"],
        )  # fmt: skip
        found = steps.incident_checklist(incident)
        record = next(r for s in found.steps for r in s.records if r.seq == saved.seq)
        return Response({"record": _record_out(record), "current": found.current}, status=201)


class PinView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        summary="Pin a playbook to an incident that follows none",
        request=PinIn,
        responses={
            201: ChecklistOut,
            409: OpenApiResponse(description="A playbook is already pinned."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        data = PinIn(data=request.data)
        data.is_valid(raise_exception=True)
        row = steps.incident_playbook_pin(
            incident=incident, actor=request.user, playbook_slug=data.validated_data["playbook"]
        )
        return Response(checklist_out(row), status=201)


class CommunicationsView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(summary="An incident's communication drafts", responses={200: CommunicationsOut})
    def get(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        due = incident.next_update_at
        return Response(
            {
                "next_update_at": due,
                "overdue": bool(due and incident.is_open and due < clock.now()),
                "drafts": [
                    {"kind": d.kind, "label": d.label, "text": d.text}
                    for d in communications.incident_drafts(incident)
                ],
            }
        )

    @extend_schema(
        summary="Record a draft as sent (sets when the next update is due)",
        request=SentIn,
        responses={201: SentOut, 409: OpenApiResponse(description="The incident is over.")},
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        data = SentIn(data=request.data)
        data.is_valid(raise_exception=True)
        due = communications.incident_communication_sent(
            incident=incident,
            actor=request.user,
            kind=data.validated_data["kind"],
            text=data.validated_data["text"],
        )
        return Response({"kind": data.validated_data["kind"], "next_update_at": due}, status=201)


urlpatterns = [
    path("incidents/<int:pk>/checklist", ChecklistView.as_view(), name="incident-checklist"),
    path("incidents/<int:pk>/steps", StepsView.as_view(), name="incident-steps"),
    path("incidents/<int:pk>/playbook", PinView.as_view(), name="incident-playbook"),
    path(
        "incidents/<int:pk>/communications",
        CommunicationsView.as_view(),
        name="incident-communications",
    ),
]

"""Recovery API: ``GET /api/v1/incidents/{id}/recovery`` (each model's ranked paths and the
inputs they were scored on, and the decisions made), ``POST .../recovery/simulations`` (replay
a policy path over the incident's window) and ``POST .../recovery`` (choose a path: 201 with
the decision and what it set in motion).

Same permissions as the page: whoever reads the incident reads its recovery; engineers, leads
and its commander simulate and choose. An incident the caller cannot read is a 404.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import StrictInputSerializer
from reviewapp.core.exceptions import PermissionDenied

from ..models import Incident, RecoveryDecision
from . import recovery, scoring, selectors
from .api_common import CanReadIncidents
from .api_common import incident_or_404 as _incident


def _runner(request: Request, incident: Incident) -> None:
    if not selectors.may_run(request.user, incident):
        raise PermissionDenied(_("Only engineers, leads and this incident's commander run it."))


class RecoveryCandidateOut(serializers.Serializer):
    rank = serializers.IntegerField()
    path = serializers.CharField(help_text="One of: " + ", ".join(scoring.PATHS) + ".")
    label = serializers.CharField()
    params = serializers.DictField()
    score = serializers.FloatField(help_text="Expected cost over the horizon (lower is better).")
    components = serializers.DictField(
        child=serializers.FloatField(),
        help_text="`until_recovery.<term>` and `after.<term>` for revenue_at_risk, "
        "customer_impact, regulatory, review_cost, delay_cost.",
    )
    safe = serializers.BooleanField()
    unsafe_reasons = serializers.ListField(child=serializers.CharField())
    effect = serializers.DictField()
    simulation = serializers.DictField(allow_null=True)


class RecoveryModelOut(serializers.Serializer):
    model = serializers.CharField()
    inputs = serializers.DictField()
    candidates = RecoveryCandidateOut(many=True)


class RecoveryDecisionOut(serializers.Serializer):
    id = serializers.IntegerField()
    path = serializers.CharField()
    params = serializers.DictField()
    reason = serializers.CharField()
    authorised_by = serializers.CharField()
    decided_at = serializers.DateTimeField()
    outcome = serializers.DictField(help_text="What it set in motion (change request, mode).")
    chosen = serializers.DictField(help_text="The candidate as scored when chosen.")
    simulation = serializers.DictField()


class RecoveryOut(serializers.Serializer):
    models = RecoveryModelOut(many=True)
    decisions = RecoveryDecisionOut(many=True)


class RecoverySimulateIn(StrictInputSerializer):
    model = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    path = serializers.CharField(
        max_length=40, help_text="One of: " + ", ".join(scoring.POLICY_PATHS) + "."
    )
    params = serializers.JSONField(required=False, default=dict)


class RecoveryChooseIn(StrictInputSerializer):
    model = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    path = serializers.CharField(
        max_length=40, help_text="One of: " + ", ".join(scoring.PATHS) + "."
    )
    params = serializers.JSONField(required=False, default=dict)
    reason = serializers.CharField(max_length=5000)
    emergency = serializers.BooleanField(required=False, default=False)


class RecoverySimulationOut(serializers.Serializer):
    model = serializers.CharField()
    path = serializers.CharField()
    params = serializers.DictField()
    predictions = serializers.IntegerField()
    queue_volume = serializers.DictField(child=serializers.IntegerField())
    reviewer_hours_change = serializers.FloatField(allow_null=True)
    escaping_errors = serializers.IntegerField()
    escaping_errors_active = serializers.IntegerField()
    window = serializers.DictField(child=serializers.CharField())
    evidence_hash = serializers.CharField()
    simulated_at = serializers.CharField()


def decision_out(d: RecoveryDecision) -> dict[str, Any]:
    return {
        "id": d.pk,
        "path": d.path,
        "params": d.params,
        "reason": d.reason,
        "authorised_by": d.authorised_by.get_username(),
        "decided_at": d.decided_at,
        "outcome": d.outcome,
        "chosen": d.scores.get("chosen", {}),
        "simulation": d.simulation or {},
    }


class RecoveryView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incident_recovery_retrieve",
        summary="An incident's recovery paths, ranked, with their inputs and the decisions made",
        responses={200: RecoveryOut, 404: OpenApiResponse(description="No such incident.")},
    )
    def get(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        models = []
        for found in recovery.incident_recovery(incident):
            out = found.as_dict()
            for row, scored in zip(out["candidates"], found.ranking, strict=True):
                row["simulation"] = recovery.cached_simulation(incident, found, scored)
            models.append(out)
        return Response(
            {
                "models": models,
                "decisions": [decision_out(d) for d in recovery.decisions_of(incident)],
            }
        )

    @extend_schema(
        operation_id="incident_recovery_choose",
        summary="Choose a recovery path (sets it in motion through governance or the switch)",
        request=RecoveryChooseIn,
        responses={
            201: RecoveryDecisionOut,
            403: OpenApiResponse(description="Not an engineer, lead or the commander."),
            409: OpenApiResponse(description="Incident closed, or the model already in that mode."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        _runner(request, incident)
        data = RecoveryChooseIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        decision = recovery.recovery_choose(
            incident=incident, actor=request.user, path=v["path"], params=v["params"],
            reason=v["reason"], model_slug=v["model"] or None, emergency=v["emergency"],
        )  # fmt: skip
        return Response(decision_out(decision), status=201)


class SimulationView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incident_recovery_simulate",
        summary="Simulate a policy path: governance's impact replay over the incident's window",
        request=RecoverySimulateIn,
        responses={200: RecoverySimulationOut, 403: OpenApiResponse(description="May not run it.")},
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        _runner(request, incident)
        data = RecoverySimulateIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        figures = recovery.recovery_simulate(
            incident=incident, actor=request.user, path=v["path"], params=v["params"],
            model_slug=v["model"] or None,
        )  # fmt: skip
        return Response(figures)


urlpatterns = [
    path("incidents/<int:pk>/recovery", RecoveryView.as_view(), name="incident-recovery"),
    path(
        "incidents/<int:pk>/recovery/simulations",
        SimulationView.as_view(),
        name="incident-recovery-simulations",
    ),
]

"""An incident's affected predictions, their re-review and its root-cause hypotheses:

* ``GET  /api/v1/incidents/{id}/affected``: the window, the total, per UTC day and model,
  the re-review's progress and the newest examples the caller may read;
* ``POST /api/v1/incidents/{id}/rechecks`` ``{"mode": "all"|"sample", "size": n}``: queue
  them for re-review (201 with the counts);
* ``GET/POST /api/v1/incidents/{id}/hypotheses``; ``PATCH .../hypotheses/{hid}`` with the
  ``version`` read: edit its text or confidence and/or set its ``status`` (409 when stale).

Same permissions as the pages: everyone who reads the incident reads these; running it
(engineers, leads, its commander) writes. Thin: shape here, rules in the services.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import BoundedLimitOffsetPagination, StrictInputSerializer, id_field

from ..models import Hypothesis
from . import ledger, rca
from .api_common import CanReadIncidents
from .api_common import incident_or_404 as _incident

# -- shapes ---------------------------------------------------------------------------------


class WindowOut(serializers.Serializer):
    start = serializers.DateTimeField(help_text="Impact start, or detection when unknown.")
    end = serializers.DateTimeField(help_text="Containment, or now while not contained.")
    contained = serializers.BooleanField()


class DayOut(serializers.Serializer):
    day = serializers.DateField(help_text="UTC day.")
    model = serializers.CharField()
    count = serializers.IntegerField()


class ExampleOut(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField()
    external_id = serializers.CharField()
    label = serializers.CharField()
    confidence = serializers.FloatField()
    received_at = serializers.DateTimeField()


class AffectedOut(serializers.Serializer):
    window = WindowOut()
    total = serializers.IntegerField(help_text="Predictions that passed automatically.")
    per_day = DayOut(many=True)
    queued = serializers.IntegerField()
    rereviewed = serializers.IntegerField()
    overturned = serializers.IntegerField(help_text="Re-reviews that overrode the model.")
    pending = serializers.IntegerField()
    examples = ExampleOut(many=True, help_text="The newest ones the caller may read.")


class RecheckIn(StrictInputSerializer):
    mode = serializers.ChoiceField(list(ledger.MODES))
    size = id_field(required=False, help_text="With mode=sample: how many, chosen at random.")


class RecheckOut(serializers.Serializer):
    affected = serializers.IntegerField()
    queued = serializers.IntegerField(help_text="New review items.")
    linked = serializers.IntegerField(help_text="Items another incident had queued, linked.")
    already = serializers.IntegerField(help_text="Already in this incident's re-review.")
    total = serializers.IntegerField(help_text="This incident's re-review items now.")


class HypothesisOut(serializers.Serializer):
    id = serializers.IntegerField()
    statement = serializers.CharField()
    test = serializers.CharField()
    evidence = serializers.CharField()
    result = serializers.CharField()
    confidence = serializers.IntegerField()
    status = serializers.ChoiceField(Hypothesis.Status.choices)
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()


class HypothesisPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HypothesisOut(many=True)


class HypothesisIn(StrictInputSerializer):
    statement = serializers.CharField(max_length=rca.MAX_STATEMENT)
    test = serializers.CharField(required=False, allow_blank=True, max_length=rca.MAX_TEXT)
    evidence = serializers.CharField(required=False, allow_blank=True, max_length=rca.MAX_TEXT)
    result = serializers.CharField(required=False, allow_blank=True, max_length=rca.MAX_TEXT)
    confidence = serializers.IntegerField(required=False, min_value=0, max_value=100)


class HypothesisPatchIn(StrictInputSerializer):
    version = id_field(help_text="The version you read (409 if it changed since).")
    statement = serializers.CharField(required=False, max_length=rca.MAX_STATEMENT)
    test = serializers.CharField(required=False, allow_blank=True, max_length=rca.MAX_TEXT)
    evidence = serializers.CharField(required=False, allow_blank=True, max_length=rca.MAX_TEXT)
    result = serializers.CharField(required=False, allow_blank=True, max_length=rca.MAX_TEXT)
    confidence = serializers.IntegerField(required=False, min_value=0, max_value=100)
    status = serializers.ChoiceField(
        Hypothesis.Status.choices, required=False, help_text="refuted needs a result."
    )


def _hypothesis_out(h: Hypothesis) -> dict[str, Any]:
    return {
        "id": h.pk,
        "statement": h.statement,
        "test": h.test,
        "evidence": h.evidence,
        "result": h.result,
        "confidence": h.confidence,
        "status": h.status,
        "created_by": h.created_by.get_username() if h.created_by_id else None,
        "created_at": h.created_at,
        "decided_by": h.decided_by.get_username() if h.decided_by_id else None,
        "decided_at": h.decided_at,
        "version": h.version,
    }


class Pagination(BoundedLimitOffsetPagination):
    default_limit = 50
    max_limit = 200


# -- views ----------------------------------------------------------------------------------


class AffectedView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(summary="An incident's affected predictions", responses={200: AffectedOut})
    def get(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        summary = ledger.affected_summary(incident)
        examples = ledger.affected_examples(incident, request.user)
        return Response(
            AffectedOut(
                {
                    **summary,
                    "examples": [
                        {
                            "id": p.pk,
                            "model": p.model.slug,
                            "external_id": p.external_id,
                            "label": p.label,
                            "confidence": p.confidence,
                            "received_at": p.received_at,
                        }  # fmt: skip
                        for p in examples
                    ],
                }
            ).data
        )


class RechecksView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        summary="Queue an incident's affected predictions for re-review",
        request=RecheckIn,
        responses={201: RecheckOut},
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        data = RecheckIn(data=request.data)
        data.is_valid(raise_exception=True)
        done = ledger.incident_recheck_queue(
            incident=incident,
            actor=request.user,
            mode=data.validated_data["mode"],
            size=data.validated_data.get("size"),
        )
        return Response(done, status=201)


class HypothesesView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incident_hypotheses_list",
        summary="An incident's root-cause hypotheses, oldest first",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: HypothesisPage},
    )
    def get(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        paginator = Pagination()
        page = paginator.paginate_queryset(rca.hypotheses_of(incident), request, view=self)
        return paginator.get_paginated_response([_hypothesis_out(h) for h in page])

    @extend_schema(
        summary="Add a root-cause hypothesis", request=HypothesisIn, responses={201: HypothesisOut}
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        data = HypothesisIn(data=request.data)
        data.is_valid(raise_exception=True)
        h = rca.hypothesis_add(incident=incident, actor=request.user, **data.validated_data)
        return Response(_hypothesis_out(h), status=201)


class HypothesisView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        summary="Edit a hypothesis and/or confirm, refute or reopen it",
        request=HypothesisPatchIn,
        responses={200: HypothesisOut},
    )
    def patch(self, request: Request, pk: int, hid: int) -> Response:
        incident = _incident(request, pk)
        data = HypothesisPatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = fields.pop("version")
        status = fields.pop("status", None)
        with transaction.atomic():  # an edit and a decision together, or nothing
            h = rca.hypothesis_edit(incident=incident, actor=request.user, hypothesis_id=hid,
                                    base_version=version, **fields)  # fmt: skip
            if status is not None:
                h = rca.hypothesis_decide(
                    incident=incident, actor=request.user, hypothesis_id=hid,
                    base_version=h.version, status=status,
                )  # fmt: skip
        return Response(_hypothesis_out(h))


urlpatterns = [
    path("incidents/<int:pk>/affected", AffectedView.as_view(), name="incident-affected"),
    path("incidents/<int:pk>/rechecks", RechecksView.as_view(), name="incident-rechecks"),
    path("incidents/<int:pk>/hypotheses", HypothesesView.as_view(), name="incident-hypotheses"),
    path(
        "incidents/<int:pk>/hypotheses/<int:hid>",
        HypothesisView.as_view(),
        name="incident-hypothesis",
    ),
]

"""``GET /api/v1/predictions/{id}/replay``: recompute a prediction's routing decision from the
facts stored with it and the policy version that routed it, beside what was recorded.

Read-only. The same callers and the same rows as ``GET /api/v1/predictions/{id}``: service
accounts their own models, people with view rights the predictions they may read (a reviewer
their pools'); anything else is the same 404 as an id that does not exist.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.permissions import CanReadPredictions
from reviewapp.core.api import error_response
from reviewapp.governance.replay import routing_replay
from reviewapp.models import Mode
from reviewapp.selectors.ingest import prediction_for_replay

ERRORS = inline_serializer(
    "ReplayErrors",
    {"errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField()))},
)


def _outcome(name: str) -> serializers.Serializer:
    return inline_serializer(
        name,
        {
            "routed": serializers.BooleanField(),
            "reasons": serializers.ListField(child=serializers.CharField()),
            "details": serializers.DictField(help_text="threshold, confidence, segment, …"),
            "threshold": serializers.FloatField(allow_null=True),
            "fallback": serializers.DictField(allow_null=True),
            "policy_hash": serializers.CharField(help_text="sha256 of the policy's rules"),
            "sla_due_at": serializers.DateTimeField(
                allow_null=True, help_text="The routed item's deadline (ISO 8601 UTC)."
            ),
            "mode": serializers.ChoiceField(Mode.choices, help_text="The model's operating mode."),
            "mode_sample": serializers.BooleanField(
                help_text="Halted model: queued for review anyway (a mode_sample item)."
            ),
        },
    )


REPLAY = inline_serializer(
    "RoutingReplay",
    {
        "prediction": serializers.IntegerField(),
        "model": serializers.SlugField(),
        "policy_version": serializers.IntegerField(
            allow_null=True, help_text="The version that routed it; null: no active policy."
        ),
        "facts": serializers.ChoiceField(
            ["stored", "reconstructed"],
            help_text="stored: the facts routing recorded; reconstructed: routed before facts "
            "were stored, read from the live row.",
        ),
        "recorded": _outcome("RecordedRouting"),
        "replayed": _outcome("ReplayedRouting"),
        "matches": serializers.BooleanField(),
        "differences": serializers.ListField(
            child=serializers.CharField(), help_text="Names of the fields that differ."
        ),
    },
)


class PredictionReplayView(APIView):
    permission_classes = [CanReadPredictions]

    @extend_schema(
        operation_id="predictions_replay",
        summary="Replay a prediction's routing decision from its stored facts and policy version",
        responses={
            200: REPLAY,
            403: ERRORS,
            404: ERRORS,
            409: OpenApiResponse(ERRORS, description="The prediction has not been routed yet."),
        },
    )
    def get(self, request, pk: int):
        prediction = prediction_for_replay(request.user, pk=pk)
        if prediction is None:  # outside the caller's visibility reads like a missing id
            return error_response({"id": ["No such prediction."]}, 404)
        return Response(routing_replay(prediction).as_dict())

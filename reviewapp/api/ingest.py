"""Ingestion API (the contract in README.md). Views validate, call a service, present."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.permissions import CanReadPredictions, IsServiceAccount
from reviewapp.auth import ServicePrincipal, ServiceTokenAuthentication
from reviewapp.core.api import error_response
from reviewapp.core.tokens import token_from_header
from reviewapp.envelope import BodyError, parse_json
from reviewapp.models import Mode
from reviewapp.selectors.ingest import (
    model_list_representation,
    models_visible_to,
    prediction_representation,
    predictions_with_routing,
)
from reviewapp.selectors.visibility import predictions_visible_to
from reviewapp.services.accounts import service_account_for_token
from reviewapp.services.ingest import prediction_batch_ingest, prediction_ingest


def _account(request):
    return getattr(request.user, "account", None)


def _read_body(request, limit: int):
    body = request.body
    if len(body) > limit:
        return None, Response(
            {"errors": {"body": [f"Request body is larger than the limit of {limit} bytes."]}},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if not body:
        return None, error_response({"body": ["Empty body: send a JSON object."]}, 400)
    try:
        value, _ = parse_json(body)
    except BodyError as exc:
        return None, error_response({"body": [str(exc)]}, 400)
    return value, None


# --- Schema-only serializers: validation runs in reviewapp.envelope -------------------------
class OutputSchema(serializers.Serializer):
    label = serializers.CharField(help_text="Predicted label; must be in the model's label set.")
    scores = serializers.DictField(child=serializers.FloatField(), required=False)


class EnvelopeSchema(serializers.Serializer):
    model = serializers.SlugField(help_text="Slug of a registered model.")
    model_version = serializers.CharField(max_length=100)
    external_id = serializers.CharField(
        max_length=200, help_text="Idempotency key, unique per model."
    )
    input = serializers.DictField(help_text="The features as the model saw them.")
    output = OutputSchema()
    confidence = serializers.FloatField(min_value=0, max_value=1)
    signals = serializers.DictField(
        required=False, help_text="ood_score, drift_features, attributions"
    )
    lineage = serializers.DictField(
        required=False, help_text="dataset, feature_snapshot, pipeline_run"
    )
    occurred_at = serializers.DateTimeField(required=False)


def registered_model_fields() -> dict[str, serializers.Field]:
    """The fields of a model in ``GET /models`` (fresh instances for each schema using them)."""
    return {
        "slug": serializers.SlugField(),
        "name": serializers.CharField(),
        "owner_team": serializers.CharField(),
        "criticality": serializers.CharField(),
        "labels": serializers.ListField(child=serializers.CharField()),
        "strict_output": serializers.BooleanField(
            help_text="True: a prediction whose `output.label` is not the arg-max of its "
            "`output.scores` is refused (400); false: it is routed to review "
            "(`inconsistent_output`)."
        ),
    }


MODEL_MODE_HELP = (
    "The model's operating mode when the prediction was received: `contained` means a human "
    "decides it (use the fallback until the decision comes), `halted` means the model's "
    "output is not used (serve the fallback)."
)
ACCEPTED = inline_serializer(
    "Accepted",
    {
        "id": serializers.IntegerField(),
        "status": serializers.CharField(),
        "url": serializers.CharField(),
        "model_mode": serializers.ChoiceField(Mode.choices, help_text=MODEL_MODE_HELP),
    },
)
ERRORS = inline_serializer(
    "Errors",
    {"errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField()))},
)
BATCH_RESULT = inline_serializer(
    "BatchResult",
    {
        "results": serializers.ListField(
            child=inline_serializer(
                "BatchItemResult",
                {
                    "index": serializers.IntegerField(),
                    "status": serializers.ChoiceField(["accepted", "duplicate", "error"]),
                    "id": serializers.IntegerField(allow_null=True),
                    "model_mode": serializers.ChoiceField(
                        Mode.choices, allow_null=True, help_text=MODEL_MODE_HELP
                    ),
                    "errors": serializers.DictField(),
                },
            )
        )
    },
)


class PredictionsView(APIView):
    def get_permissions(self):
        if self.request.method == "POST":
            return [IsServiceAccount()]
        return [CanReadPredictions()]

    @extend_schema(
        operation_id="predictions_create",
        request=EnvelopeSchema,
        responses={202: ACCEPTED, 200: dict, 400: ERRORS, 403: ERRORS, 404: ERRORS, 413: ERRORS},
        summary="Send one flagged prediction for review",
    )
    def post(self, request):
        raw, problem = _read_body(request, settings.INGEST_MAX_BODY_BYTES)
        if problem:
            return problem
        result = prediction_ingest(envelope=raw, account=_account(request))
        if result.status == "error":
            return error_response(result.errors, result.http_status)
        if result.status == "duplicate":
            record = prediction_representation(
                predictions_with_routing().get(pk=result.id), request
            )
            return Response({**record, "duplicate": True}, status=status.HTTP_200_OK)
        url = request.build_absolute_uri(reverse("api:prediction-detail", args=[result.id]))
        return Response(
            {"id": result.id, "status": "received", "url": url, "model_mode": result.model_mode},
            status=202,
        )

    @extend_schema(
        operation_id="predictions_find",
        parameters=[
            OpenApiParameter("model", str, required=True, description="Model slug"),
            OpenApiParameter("external_id", str, required=True, description="The producer's key"),
        ],
        responses={200: dict, 400: ERRORS, 404: ERRORS},
        summary="Find a prediction by its (model, external_id) key",
    )
    def get(self, request):
        errors = {
            name: ["Required query parameter."]
            for name in ("model", "external_id")
            if not request.query_params.get(name)
        }
        errors.update(
            {
                name: ["Must not contain NUL characters."]
                for name in ("model", "external_id")
                if "\x00" in request.query_params.get(name, "")
            }
        )
        if errors:
            return error_response(errors, 400)
        prediction = (
            predictions_visible_to(request.user, predictions_with_routing())
            .filter(
                model__slug=request.query_params["model"],
                external_id=request.query_params["external_id"],
            )
            .first()
        )
        if prediction is None:
            return error_response(
                {"external_id": ["No prediction with this key for this model."]}, 404
            )
        return Response(prediction_representation(prediction, request))


# --- The lean path: POST /api/v1/predictions with a service token ----------------------------
# Model services send most predictions one per request, so this is the busiest request the
# site answers. With a valid service token it runs without DRF's request wrapping, content
# negotiation, permission classes and renderer (the answer is always JSON): the same checks
# in plain code. Anything else (no token, a bad or personal token, a session, other methods)
# goes to PredictionsView, which answers exactly as before and describes the endpoint in the
# OpenAPI schema. Measured in docs/performance.md ("Ingest at the machine's limit").
_predictions_view = PredictionsView.as_view()


def _lean_error(errors: dict[str, list[str]], status_code: int) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status_code)


def _lean_post(request: HttpRequest, account) -> HttpResponse:
    body = request.body
    limit = settings.INGEST_MAX_BODY_BYTES
    if len(body) > limit:
        return _lean_error(
            {"body": [f"Request body is larger than the limit of {limit} bytes."]}, 413
        )
    if not body:
        return _lean_error({"body": ["Empty body: send a JSON object."]}, 400)
    try:
        raw, _ = parse_json(body)
    except BodyError as exc:
        return _lean_error({"body": [str(exc)]}, 400)
    result = prediction_ingest(envelope=raw, account=account)
    if result.status == "error":
        return _lean_error(result.errors, result.http_status)
    if result.status == "duplicate":
        record = prediction_representation(predictions_with_routing().get(pk=result.id), request)
        return JsonResponse({**record, "duplicate": True}, status=200)
    url = request.build_absolute_uri(reverse("api:prediction-detail", args=[result.id]))
    return JsonResponse(
        {"id": result.id, "status": "received", "url": url, "model_mode": result.model_mode},
        status=202,
    )


@csrf_exempt
def predictions_endpoint(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """/api/v1/predictions: a service's POST takes the lean path, the rest PredictionsView."""
    if request.method == "POST":
        try:
            token = token_from_header(request, ServiceTokenAuthentication.keyword)
        except AuthenticationFailed:
            token = None  # a malformed header: DRF answers it, as before
        account = service_account_for_token(token) if token is not None else None
        if account is not None:
            # Who sent it, for whatever reads request.user after the view (as DRF sets it).
            request.user = ServicePrincipal(account)
            return _lean_post(request, account)
    return _predictions_view(request, *args, **kwargs)


# drf-spectacular finds an endpoint's view through these (it reads PredictionsView's schema).
predictions_endpoint.cls = PredictionsView
predictions_endpoint.initkwargs = _predictions_view.initkwargs


class PredictionBatchView(APIView):
    permission_classes = [IsServiceAccount]

    @extend_schema(
        operation_id="predictions_batch",
        request=inline_serializer("Batch", {"predictions": EnvelopeSchema(many=True)}),
        responses={200: BATCH_RESULT, 400: ERRORS, 413: ERRORS},
        summary="Send up to 1,000 predictions; each item is accepted or refused on its own",
    )
    def post(self, request):
        raw, problem = _read_body(request, settings.INGEST_MAX_BATCH_BODY_BYTES)
        if problem:
            return problem
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("predictions"), list)
            or set(raw) != {"predictions"}
        ):
            return error_response(
                {"predictions": ['The body must be {"predictions": [...]}.']}, 400
            )
        items = raw["predictions"]
        limit = settings.INGEST_MAX_BATCH_ITEMS
        if len(items) > limit:
            return error_response(
                {"predictions": [f"At most {limit} items per batch; got {len(items)}."]}, 400
            )
        results = prediction_batch_ingest(
            envelopes=items, account=_account(request), body_size=len(request.body)
        )
        return Response(
            {
                "results": [
                    {
                        "index": r.index,
                        "status": r.status,
                        "id": r.id,
                        "model_mode": r.model_mode,
                        "errors": r.errors or None,
                    }
                    for r in results
                ]
            }
        )


class PredictionDetailView(APIView):
    permission_classes = [CanReadPredictions]

    @extend_schema(operation_id="predictions_read", responses={200: dict, 404: ERRORS})
    def get(self, request, pk: int):
        # Outside the caller's visibility reads exactly like a missing id.
        prediction = (
            predictions_visible_to(request.user, predictions_with_routing()).filter(pk=pk).first()
        )
        if prediction is None:
            return error_response({"id": ["No such prediction."]}, 404)
        return Response(prediction_representation(prediction, request))


class ModelListView(APIView):
    permission_classes = [CanReadPredictions]

    @extend_schema(
        operation_id="models_list",
        responses=inline_serializer("RegisteredModel", registered_model_fields(), many=True),
    )
    def get(self, request):
        return Response(
            [model_list_representation(m) for m in models_visible_to(_account(request))]
        )

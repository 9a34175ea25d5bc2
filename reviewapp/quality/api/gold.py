"""The gold API: ``GET/POST /api/v1/quality/gold``, ``GET /api/v1/quality/gold/{id}``,
``POST /api/v1/quality/gold/{id}/retire``.

Leads write; engineers and committee members read; reviewers and service tokens get 403 on
every route (a reviewer must never learn which items are gold). Errors answer
``{"errors": {"<parameter or field>": ["..."]}}`` (core's exception handler).
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import (
    BoundedLimitOffsetPagination,
    StrictInputSerializer,
    error_response,
    id_field,
)
from reviewapp.core.exceptions import NotFound
from reviewapp.models import MLModel

from ..selectors import gold as sel
from ..services import gold as svc


class CanReadGold(BasePermission):
    message = _("Only leads, engineers and committee members read gold items.")

    def has_permission(self, request: Request, view: Any) -> bool:
        if not svc.may_read_gold(request.user):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return svc.may_mark_gold(request.user)


class GoldOut(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.SlugField()
    prediction = serializers.IntegerField()
    source_item = serializers.IntegerField(help_text="The decided item the answer came from.")
    label = serializers.CharField(help_text="The known correct answer.")
    model_label = serializers.CharField(help_text="What the model predicted.")
    confidence = serializers.FloatField()
    adversarial = serializers.BooleanField(help_text="The model was wrong on it.")
    origin = serializers.CharField(help_text="`marked` by a lead or from an `adjudicated` case.")
    rationale = serializers.CharField(allow_blank=True)
    marked_by = serializers.CharField()
    marked_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField(allow_null=True)
    retired_by = serializers.CharField(allow_null=True)
    retire_reason = serializers.CharField(allow_blank=True)
    served = serializers.IntegerField(help_text="Times served to a reviewer.")
    correct = serializers.IntegerField()
    wrong = serializers.IntegerField()
    accuracy = serializers.FloatField(
        allow_null=True, help_text="correct / (correct + wrong); null before any scored answer."
    )


class GoldMarkIn(StrictInputSerializer):
    item_id = id_field(help_text="A decided item (not gold or qualification).")
    label = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        default="",
        help_text="The correct answer; empty: the item's final decision's label.",
    )
    rationale = serializers.CharField(
        required=False, allow_blank=True, max_length=svc.RATIONALE_MAX, default=""
    )


class GoldRetireIn(StrictInputSerializer):
    reason = serializers.CharField(max_length=svc.REASON_MAX, allow_blank=True)


class GoldPagination(BoundedLimitOffsetPagination):
    default_limit = 50
    max_limit = 200


ERRORS = OpenApiResponse(description='`{"errors": {"<parameter>": ["..."]}}`')
FILTER_VALUES = {"adversarial": ("true", "false"), "retired": sel.RETIRED_CHOICES}


def _answer(gold_id: int) -> dict[str, Any]:
    gold = sel.gold_get(gold_id)
    if gold is None:
        raise NotFound(_("No such gold item."), field="id")
    return sel.gold_representation(gold)


class GoldListView(APIView):
    permission_classes = [CanReadGold]
    pagination_class = GoldPagination

    @extend_schema(
        operation_id="v1_quality_gold_list",
        summary="List gold items, newest first (leads, engineers, committee)",
        parameters=[
            OpenApiParameter("model", str, description="The model's slug."),
            OpenApiParameter("adversarial", str, enum=["true", "false"]),
            OpenApiParameter(
                "retired", str, enum=list(sel.RETIRED_CHOICES), description="Default: active."
            ),
        ],
        responses={200: GoldOut(many=True), 400: ERRORS, 403: ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        errors: dict[str, list[str]] = {}
        model_id = None
        if slug := params.get("model", ""):
            model_id = MLModel.objects.filter(slug=slug).values_list("pk", flat=True).first()
            if model_id is None:
                errors["model"] = [_("Unknown model '%(slug)s'.") % {"slug": slug}]
        for name, allowed in FILTER_VALUES.items():
            value = params.get(name, "")
            if value and value not in allowed:
                errors[name] = [_("Use one of %(all)s.") % {"all": ", ".join(allowed)}]
        if errors:
            return error_response(errors, 400)
        adversarial = {"true": True, "false": False}.get(params.get("adversarial", ""))
        qs = sel.gold_list(
            model_id=model_id, adversarial=adversarial, retired=params.get("retired") or "active"
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response([sel.gold_representation(g) for g in page])

    @extend_schema(
        operation_id="v1_quality_gold_mark",
        summary="Mark a decided item's prediction as gold (leads)",
        description="The answer defaults to the item's final decision's label; a different "
        "answer needs a rationale. 409 when the item is not decided or its prediction is "
        "already gold.",
        request=GoldMarkIn,
        responses={201: GoldOut, 400: ERRORS, 403: ERRORS, 404: ERRORS, 409: ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = GoldMarkIn(data=request.data)
        data.is_valid(raise_exception=True)
        gold = svc.gold_mark(user=request.user, **data.validated_data)
        return Response(_answer(gold.pk), status=201)


class GoldDetailView(APIView):
    permission_classes = [CanReadGold]

    @extend_schema(
        operation_id="v1_quality_gold_detail",
        summary="One gold item with how reviewers did on it",
        responses={200: GoldOut, 403: ERRORS, 404: ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_answer(pk))


class GoldRetireView(APIView):
    permission_classes = [CanReadGold]

    @extend_schema(
        operation_id="v1_quality_gold_retire",
        summary="Retire a gold item: it is served no more (leads)",
        request=GoldRetireIn,
        responses={200: GoldOut, 400: ERRORS, 403: ERRORS, 404: ERRORS, 409: ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        data = GoldRetireIn(data=request.data)
        data.is_valid(raise_exception=True)
        gold = svc.gold_retire(gold_id=pk, reason=data.validated_data["reason"], user=request.user)
        return Response(_answer(gold.pk))


urlpatterns = [
    path("gold", GoldListView.as_view(), name="quality-gold"),
    path("gold/<int:pk>", GoldDetailView.as_view(), name="quality-gold-detail"),
    path("gold/<int:pk>/retire", GoldRetireView.as_view(), name="quality-gold-retire"),
]

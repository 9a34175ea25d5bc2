"""Adjudication API (leads): ``GET /api/v1/quality/adjudications``, ``GET .../{id}`` and
``POST .../{id}/adjudicate``. Thin: the role check, the parameters, one selector or service
call. Errors answer ``{"errors": {"<parameter or field>": ["..."]}}`` (core's handler)."""

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

from reviewapp.core.api import BoundedLimitOffsetPagination, StrictInputSerializer, error_response
from reviewapp.core.exceptions import NotFound

from ..models import SecondReview
from ..selectors import second_review as sel
from ..services.second_review import REASON_MAX, second_review_adjudicate


class IsLead(BasePermission):
    message = _("Only leads adjudicate second reviews.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return sel.may_adjudicate(request.user)


class SideOut(serializers.Serializer):
    decision_id = serializers.IntegerField()
    reviewer = serializers.CharField()
    action = serializers.CharField(help_text="accept or override")
    label = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)
    decided_at = serializers.DateTimeField()
    seconds_taken = serializers.FloatField(allow_null=True)


class AdjudicationOut(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.SlugField()
    prediction_id = serializers.IntegerField()
    model_label = serializers.CharField()
    confidence = serializers.FloatField()
    why = serializers.ChoiceField(SecondReview.Why.values)
    status = serializers.ChoiceField(SecondReview.Status.values)
    version = serializers.IntegerField(help_text="Send it back with an adjudication.")
    created_at = serializers.DateTimeField()
    first = SideOut(help_text="The first decision.")
    second = SideOut(allow_null=True, help_text="The blind second decision (null until in).")
    final_label = serializers.CharField(allow_null=True)
    adjudicated_by = serializers.CharField(allow_null=True)
    adjudicated_at = serializers.DateTimeField(allow_null=True)
    adjudication_reason = serializers.CharField(allow_blank=True)
    final_decision_id = serializers.IntegerField(allow_null=True)


class AdjudicateIn(StrictInputSerializer):
    label = serializers.CharField(max_length=200)
    reason = serializers.CharField(max_length=REASON_MAX)
    make_gold = serializers.BooleanField(required=False, default=False)
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)


class AdjudicationPagination(BoundedLimitOffsetPagination):
    default_limit = 50
    max_limit = 200


ERRORS = OpenApiResponse(description='`{"errors": {"<parameter>": ["..."]}}`')


def _get(pk: int) -> SecondReview:
    review = sel.second_review_get(pk)
    if review is None:
        raise NotFound(_("No such second review."), field="adjudication")
    return review


class AdjudicationListView(APIView):
    permission_classes = [IsLead]
    pagination_class = AdjudicationPagination

    @extend_schema(
        operation_id="v1_quality_adjudications_list",
        summary="Blind second reviews, oldest first (leads)",
        description="By default the disagreements waiting for a lead (`status=adjudicating`). "
        "Reviewers and service tokens: 403.",
        parameters=[
            OpenApiParameter(
                "status",
                str,
                enum=SecondReview.Status.values,
                description="Default: adjudicating.",
            ),
        ],
        responses={200: AdjudicationOut(many=True), 400: ERRORS, 403: ERRORS},
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status", SecondReview.Status.ADJUDICATING)
        if status not in SecondReview.Status.values:
            return error_response(
                {
                    "status": [
                        _("Unknown status '%(s)s': use one of %(all)s.")
                        % {"s": status, "all": ", ".join(SecondReview.Status.values)}
                    ]
                },
                400,
            )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(sel.second_reviews(status=status), request, view=self)
        return paginator.get_paginated_response([sel.representation(r) for r in page])


class AdjudicationDetailView(APIView):
    permission_classes = [IsLead]

    @extend_schema(
        operation_id="v1_quality_adjudications_retrieve",
        summary="One blind second review and its two answers (leads)",
        responses={200: AdjudicationOut, 403: ERRORS, 404: ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(sel.representation(_get(pk)))


class AdjudicateView(APIView):
    permission_classes = [IsLead]

    @extend_schema(
        operation_id="v1_quality_adjudications_adjudicate",
        summary="Settle a disagreement: the final label the producer receives (leads)",
        description="The first reviewer's label releases their decision; another label "
        "supersedes it with a decision by the lead. `make_gold` also marks the prediction "
        "gold. 409 when it is not waiting for adjudication or `version` is stale.",
        request=AdjudicateIn,
        responses={
            200: AdjudicationOut,
            400: ERRORS,
            403: ERRORS,
            404: ERRORS,
            409: OpenApiResponse(description="Not waiting for adjudication, or stale version."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        _get(pk)
        data = AdjudicateIn(data=request.data)
        data.is_valid(raise_exception=True)
        review = second_review_adjudicate(review_id=pk, user=request.user, **data.validated_data)
        return Response(sel.representation(_get(review.pk)))


urlpatterns = [
    path(
        "quality/adjudications",
        AdjudicationListView.as_view(),
        name="quality-adjudications",
    ),
    path(
        "quality/adjudications/<int:pk>",
        AdjudicationDetailView.as_view(),
        name="quality-adjudication",
    ),
    path(
        "quality/adjudications/<int:pk>/adjudicate",
        AdjudicateView.as_view(),
        name="quality-adjudicate",
    ),
]

"""The people API (leads): ``GET /api/v1/quality/alerts``, ``POST
/api/v1/quality/alerts/{id}/resolve``, ``POST
/api/v1/quality/pools/{model_slug}/members/{user_id}/pause`` and ``.../resume``.

Thin: the role check, the body, one selector or service call. Errors answer
``{"errors": {"<field>": ["..."]}}`` (core's exception handler); reviewers get 403.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import BoundedLimitOffsetPagination, StrictInputSerializer
from reviewapp.core.exceptions import NotFound
from reviewapp.core.roles import LEAD, has_role
from reviewapp.models import MLModel, PoolMembership

from ..models import QualityAlert
from ..selectors.people import open_alerts
from ..services.alerts import NOTE_MAX, alert_resolve
from ..services.pauses import REASON_MAX, reviewer_pause, reviewer_resume

ERRORS = OpenApiResponse(description='`{"errors": {"<field>": ["..."]}}`')


class IsLead(BasePermission):
    message = _("Only leads manage reviewers and their alerts.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, LEAD)


class QualityAlertOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="fast_accept, gold_accuracy or qualification_failed")
    status = serializers.CharField(help_text="open or resolved")
    reviewer = serializers.CharField()
    model = serializers.SlugField()
    text = serializers.CharField(help_text="The figures in words.")
    figures = serializers.DictField()
    raised_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.CharField(allow_null=True)
    resolution = serializers.CharField(allow_blank=True)


def alert_out(alert: QualityAlert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "status": alert.status,
        "reviewer": alert.reviewer.get_username(),
        "model": alert.model.slug,
        "text": (alert.figures or {}).get("text", ""),
        "figures": alert.figures or {},
        "raised_at": alert.raised_at,
        "resolved_at": alert.resolved_at,
        "resolved_by": alert.resolved_by.get_username() if alert.resolved_by_id else None,
        "resolution": alert.resolution,
    }


class MembershipOut(serializers.Serializer):
    model = serializers.SlugField()
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    paused_at = serializers.DateTimeField(allow_null=True)
    paused_by = serializers.CharField(allow_null=True)
    pause_reason = serializers.CharField(allow_blank=True)
    qualifying = serializers.BooleanField()
    guideline_pending = serializers.BooleanField()


def membership_out(m: PoolMembership) -> dict[str, Any]:
    return {
        "model": m.model.slug,
        "user_id": m.user_id,
        "username": m.user.get_username(),
        "paused_at": m.paused_at,
        "paused_by": m.paused_by.get_username() if m.paused_by_id else None,
        "pause_reason": m.pause_reason,
        "qualifying": m.qualifying,
        "guideline_pending": m.guideline_pending,
    }


class AlertPagination(BoundedLimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class ResolveIn(StrictInputSerializer):
    note = serializers.CharField(max_length=NOTE_MAX, help_text="What you found or did.")


class PauseIn(StrictInputSerializer):
    reason = serializers.CharField(max_length=REASON_MAX, help_text="Told to the reviewer.")


class QualityAlertListView(APIView):
    permission_classes = [IsLead]
    pagination_class = AlertPagination

    @extend_schema(
        operation_id="v1_quality_alerts_list",
        summary="Open review-quality alerts, newest first (leads)",
        responses={200: QualityAlertOut(many=True), 400: ERRORS, 403: ERRORS},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            open_alerts().select_related("resolved_by"), request, view=self
        )
        return paginator.get_paginated_response([alert_out(a) for a in page])


class QualityAlertResolveView(APIView):
    permission_classes = [IsLead]

    @extend_schema(
        operation_id="v1_quality_alerts_resolve",
        summary="Resolve an open review-quality alert with a note (leads)",
        request=ResolveIn,
        responses={
            200: QualityAlertOut,
            400: ERRORS,
            403: ERRORS,
            404: ERRORS,
            409: OpenApiResponse(description="Already resolved."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        data = ResolveIn(data=request.data)
        data.is_valid(raise_exception=True)
        alert = alert_resolve(alert_id=pk, note=data.validated_data["note"], by=request.user)
        alert = QualityAlert.objects.select_related("reviewer", "model", "resolved_by").get(
            pk=alert.pk
        )
        return Response(alert_out(alert))


def _model_id(slug: str) -> int:
    model_id = MLModel.objects.filter(slug=slug).values_list("pk", flat=True).first()
    if model_id is None:
        raise NotFound(_("No model '%(slug)s'.") % {"slug": slug}, field="model_slug")
    return model_id


def _member(model_id: int, user_id: int) -> PoolMembership:
    return PoolMembership.objects.select_related("model", "user", "paused_by").get(
        model_id=model_id, user_id=user_id
    )


class PauseView(APIView):
    permission_classes = [IsLead]

    @extend_schema(
        operation_id="v1_quality_pool_member_pause",
        summary="Pause a reviewer in a model's pool, with a reason (leads)",
        description="Their live items are no longer offered to them; an item of the model they "
        "hold goes back to the queue. 409 when already paused.",
        request=PauseIn,
        responses={200: MembershipOut, 400: ERRORS, 403: ERRORS, 404: ERRORS, 409: ERRORS},
    )
    def post(self, request: Request, model_slug: str, user_id: int) -> Response:
        model_id = _model_id(model_slug)
        data = PauseIn(data=request.data)
        data.is_valid(raise_exception=True)
        reviewer_pause(model_id=model_id, user_id=user_id,
                       reason=data.validated_data["reason"], by=request.user)  # fmt: skip
        return Response(membership_out(_member(model_id, user_id)))


class ResumeView(APIView):
    permission_classes = [IsLead]

    @extend_schema(
        operation_id="v1_quality_pool_member_resume",
        summary="Resume a paused reviewer in a model's pool (leads)",
        request=None,
        responses={200: MembershipOut, 403: ERRORS, 404: ERRORS, 409: ERRORS},
    )
    def post(self, request: Request, model_slug: str, user_id: int) -> Response:
        model_id = _model_id(model_slug)
        reviewer_resume(model_id=model_id, user_id=user_id, by=request.user)
        return Response(membership_out(_member(model_id, user_id)))


urlpatterns = [
    path("quality/alerts", QualityAlertListView.as_view(), name="quality-alerts"),
    path(
        "quality/alerts/<int:pk>/resolve",
        QualityAlertResolveView.as_view(),
        name="quality-alert-resolve",
    ),
    path(
        "quality/pools/<slug:model_slug>/members/<int:user_id>/pause",
        PauseView.as_view(),
        name="quality-member-pause",
    ),
    path(
        "quality/pools/<slug:model_slug>/members/<int:user_id>/resume",
        ResumeView.as_view(),
        name="quality-member-resume",
    ),
]

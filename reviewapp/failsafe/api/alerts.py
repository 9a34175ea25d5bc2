"""Alerts API: ``GET /api/v1/alerts`` and ``POST /api/v1/alerts/{id}/acknowledge``.

Thin: the role check, the query parameters, one selector or one service call. Errors answer
``{"errors": {"<parameter or field>": ["..."]}}`` (core's exception handler).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import BoundedLimitOffsetPagination, StrictInputSerializer, error_response
from reviewapp.core.exceptions import NotFound

from .. import alert_selectors as sel
from ..models import Alert
from ..services.acknowledge import NOTE_MAX, alert_acknowledge


class CanReadAlerts(BasePermission):
    message = _("Only leads, engineers, committee members and reviewers read alerts.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return sel.may_read_alerts(request.user)


class CanAcknowledgeAlerts(BasePermission):
    message = _("Only leads and engineers acknowledge alerts.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return sel.may_acknowledge(request.user)


class AlertOut(serializers.Serializer):
    """An alert as the API answers it (and as the outbound webhook's ``data`` carries it)."""

    id = serializers.IntegerField()
    model = serializers.SlugField()
    monitor = serializers.CharField()
    severity = serializers.ChoiceField(list(sel.SEVERITIES))
    shape = serializers.ChoiceField(Alert.Shape.values, help_text="spike or (persistent) shift")
    state = serializers.ChoiceField(Alert.State.values)
    metric = serializers.CharField()
    op = serializers.CharField(allow_null=True, help_text="The bound's direction, e.g. `>`.")
    bound = serializers.FloatField(allow_null=True)
    duration_minutes = serializers.IntegerField(
        allow_null=True, help_text="Past the bound this long is a persistent shift."
    )
    action = serializers.CharField(
        allow_null=True, help_text="The monitor's action on a shift: notify, contain or halt."
    )
    value = serializers.FloatField(allow_null=True, help_text="The value that opened it.")
    peak = serializers.FloatField(allow_null=True)
    last_value = serializers.FloatField(allow_null=True)
    since = serializers.DateTimeField(help_text="When the metric first went past the bound.")
    opened_at = serializers.DateTimeField()
    inside_since = serializers.DateTimeField(
        allow_null=True, help_text="Back inside the bound since (null while past it)."
    )
    action_taken = serializers.CharField(
        allow_null=True, help_text="What the monitor did: notify, contain or halt."
    )
    action_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField(allow_null=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledge_note = serializers.CharField(allow_blank=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.IntegerField(help_text="From `since` to resolution or now.")
    monitors_version = serializers.IntegerField(allow_null=True)
    link = serializers.CharField(help_text="The alert's page.")


class AcknowledgeIn(StrictInputSerializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX, default="")


class AlertPagination(BoundedLimitOffsetPagination):
    default_limit = 50
    max_limit = 200


ERRORS = OpenApiResponse(description='`{"errors": {"<parameter>": ["..."]}}`')


class AlertListView(APIView):
    permission_classes = [CanReadAlerts]
    pagination_class = AlertPagination

    @extend_schema(
        operation_id="v1_alerts_list",
        summary="List alerts: open first, then acknowledged, then resolved; S1 first, then newest",
        description="Leads, engineers and committee members read every model's alerts; a "
        "reviewer those of their pools' models. Service tokens: 403.",
        parameters=[
            OpenApiParameter("model", str, description="The model's slug."),
            OpenApiParameter("state", str, enum=Alert.State.values),
            OpenApiParameter("severity", str, enum=list(sel.SEVERITIES)),
        ],
        responses={200: AlertOut(many=True), 400: ERRORS, 403: ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        errors: dict[str, list[str]] = {}
        model_id = None
        slug = params.get("model", "")
        if slug:
            model = sel.models_visible_to(request.user).filter(slug=slug).only("pk").first()
            if model is None:
                errors["model"] = [_("Unknown model '%(slug)s'.") % {"slug": slug}]
            else:
                model_id = model.pk
        state = params.get("state", "")
        if state and state not in Alert.State.values:
            errors["state"] = [
                _("Unknown state '%(s)s': use one of %(all)s.")
                % {"s": state, "all": ", ".join(Alert.State.values)}
            ]
        severity = params.get("severity", "")
        if severity and severity not in sel.SEVERITIES:
            errors["severity"] = [
                _("Unknown severity '%(s)s': use one of %(all)s.")
                % {"s": severity, "all": ", ".join(sel.SEVERITIES)}
            ]
        if errors:
            return error_response(errors, 400)
        qs = sel.alert_list(request.user, model_id=model_id, state=state, severity=severity)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response([sel.alert_representation(alert) for alert in page])


class AlertAcknowledgeView(APIView):
    permission_classes = [CanAcknowledgeAlerts]

    @extend_schema(
        operation_id="v1_alerts_acknowledge",
        summary="Acknowledge an open alert (leads and engineers)",
        description="Open → acknowledged, with an optional note; answers the alert. 409 when "
        "it is already acknowledged or resolved (the message names its state).",
        request=AcknowledgeIn,
        responses={
            200: AlertOut,
            400: ERRORS,
            403: ERRORS,
            404: OpenApiResponse(description="No such alert (or not one you may read)."),
            409: OpenApiResponse(description="Already acknowledged or resolved."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        alert = sel.alert_get(request.user, pk)
        if alert is None:
            raise NotFound(_("No such alert."), field="alert")
        data = AcknowledgeIn(data=request.data)
        data.is_valid(raise_exception=True)
        alert = alert_acknowledge(alert=alert, user=request.user, note=data.validated_data["note"])
        return Response(sel.alert_representation(alert))

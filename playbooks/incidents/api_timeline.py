"""``GET /api/v1/incidents/{id}/timeline``: the incident's timeline (timeline.py), oldest
first, limit/offset, ``?kind=`` one of the page's filters. Who reads the incident page reads
this; an incident the caller cannot see is 404, like one that does not exist."""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import BoundedLimitOffsetPagination
from reviewapp.core.exceptions import NotFound, ServiceError

from . import selectors, timeline
from .api_common import CanReadIncidents


class TimelineEntryOut(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.ChoiceField(list(timeline.KIND_KEYS[1:]))
    what = serializers.CharField()
    who = serializers.CharField()
    who_kind = serializers.ChoiceField(["person", "monitor", "system"])
    detail = serializers.CharField(allow_blank=True)
    link = serializers.CharField(allow_blank=True, help_text="A page of this site, or empty.")


class TimelinePage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TimelineEntryOut(many=True)


class Pagination(BoundedLimitOffsetPagination):
    default_limit = 100
    max_limit = timeline.LIMIT


class IncidentTimelineView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        summary="An incident's timeline, oldest first (the newest 500 entries at most)",
        parameters=[
            OpenApiParameter("kind", str, enum=list(timeline.KIND_KEYS)),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: TimelinePage},
    )
    def get(self, request: Request, pk: int) -> Response:
        incident = selectors.incident_for(request.user, pk)
        if incident is None:
            raise NotFound(_("No incident INC-%s.") % pk, field="id")
        kind = request.query_params.get("kind", "all")
        if kind not in timeline.KIND_KEYS:
            raise ServiceError(
                _("Unknown kind."),
                errors={"kind": [_("Must be one of %s.") % ", ".join(timeline.KIND_KEYS)]},
            )
        entries = [e.as_dict() for e in timeline.timeline(incident, kind=kind)]
        paginator = Pagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(page)


urlpatterns = [
    path(
        "incidents/<int:pk>/timeline",
        IncidentTimelineView.as_view(),
        name="incident-timeline",
    ),
]

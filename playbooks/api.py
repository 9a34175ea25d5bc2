"""Playbooks API: ``/api/v1/playbooks`` (list, create), ``/api/v1/playbooks/{slug}``
(the current version, or ``?version=N``), ``/api/v1/playbooks/{slug}/versions`` (list, and
POST a new version from ``base_version``).

Same permissions as the pages: every role reads, engineers and leads write. Thin: the role
check, the input's shape, one selector or one service; the service validates the document
and its errors answer ``{"errors": {"steps[2].condition": ["..."]}}``.
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

from reviewapp.core.api import BoundedLimitOffsetPagination, StrictInputSerializer, id_field
from reviewapp.core.exceptions import NotFound, ServiceError
from reviewapp.core.params import parse_int

from . import document as doc_rules
from . import messages, selectors, services
from .models import Playbook, PlaybookVersion


class CanReadPlaybooks(BasePermission):
    message = _("Playbooks are for people with a role in Failsafe.")

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return selectors.may_read(request.user)
        return selectors.may_write(request.user)


# --- the document's shape (for the schema; the service checks every rule) ----------------------
class PlaybookTrigger(serializers.Serializer):
    monitor = serializers.CharField(help_text="A monitor's name, e.g. `data-anomalies`.")
    kind = serializers.ChoiceField(list(doc_rules.TRIGGER_KINDS), default="any")


class PlaybookArtifact(serializers.Serializer):
    kind = serializers.ChoiceField(list(doc_rules.ARTIFACT_KINDS))
    label = serializers.CharField(max_length=200)


class PlaybookBranch(serializers.Serializer):
    label = serializers.CharField(max_length=120)
    target = serializers.CharField(help_text="The key of the step this branch leads to.")


class PlaybookStep(serializers.Serializer):
    key = serializers.CharField(max_length=40, required=False)
    phase = serializers.ChoiceField(list(doc_rules.PHASES))
    title = serializers.CharField(max_length=200)
    instructions = serializers.CharField(required=False, allow_blank=True, help_text="Markdown.")
    role = serializers.ChoiceField(list(doc_rules.STEP_ROLES))
    artifacts = PlaybookArtifact(many=True, required=False)
    condition = serializers.CharField(
        required=False, allow_blank=True, help_text="e.g. `severity >= S2` (docs/playbooks.md)."
    )
    kind = serializers.ChoiceField(list(doc_rules.STEP_KINDS), default="task")
    branches = PlaybookBranch(many=True, required=False)
    escalate_to = serializers.ChoiceField(
        [*doc_rules.ESCALATE_TO, ""], required=False, allow_blank=True
    )
    next = serializers.CharField(
        required=False, allow_blank=True, help_text="The key of the step to go to when done."
    )


class PlaybookSeverities(serializers.Serializer):
    S1 = serializers.CharField()
    S2 = serializers.CharField()
    S3 = serializers.CharField()
    S4 = serializers.CharField()


class PlaybookTemplates(serializers.Serializer):
    status_update = serializers.CharField()
    stakeholder_notice = serializers.CharField()
    resolution_notice = serializers.CharField()


class PlaybookDocument(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    summary = serializers.CharField(required=False, allow_blank=True)
    owner = serializers.CharField(help_text="Username of an engineer or lead.")
    failure_modes = serializers.ListField(child=serializers.SlugField(), required=False)
    triggers = PlaybookTrigger(many=True, required=False)
    severities = PlaybookSeverities()
    steps = PlaybookStep(many=True)
    templates = PlaybookTemplates(
        help_text="Placeholders: " + ", ".join(f"{{{p}}}" for p in messages.PLACEHOLDERS)
    )


class PlaybookCreateIn(StrictInputSerializer):
    # A JSON object checked whole by the service (so its errors name each nested field).
    document = serializers.JSONField(help_text="The playbook (see PlaybookDocument).")
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class PlaybookReviseIn(PlaybookCreateIn):
    base_version = id_field(help_text="The version this edit starts from (409 if not current).")


class PlaybookVersionOut(serializers.Serializer):
    number = serializers.IntegerField()
    sha256 = serializers.CharField()
    note = serializers.CharField()
    author = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    source = serializers.DictField(child=serializers.CharField())


class PlaybookOut(serializers.Serializer):
    slug = serializers.SlugField()
    status = serializers.ChoiceField(Playbook.Status.choices)
    version = serializers.IntegerField(help_text="The version shown (current unless ?version).")
    current_version = serializers.IntegerField()
    title = serializers.CharField()
    document = PlaybookDocument()
    saved = PlaybookVersionOut()
    url = serializers.CharField(help_text="The playbook's page.")


class PlaybookVersionPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PlaybookVersionOut(many=True)


class PlaybookListRow(serializers.Serializer):
    slug = serializers.SlugField()
    status = serializers.ChoiceField(Playbook.Status.choices)
    version = serializers.IntegerField()
    title = serializers.CharField()
    failure_modes = serializers.ListField(child=serializers.SlugField())
    triggers = PlaybookTrigger(many=True)
    owner = serializers.CharField()
    url = serializers.CharField()


class PlaybookPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PlaybookListRow(many=True)


def _version_out(v: PlaybookVersion) -> dict[str, Any]:
    return {
        "number": v.number,
        "sha256": v.sha256,
        "note": v.note,
        "author": v.author.get_username() if v.author_id else None,
        "created_at": v.created_at,
        "source": v.source or {},
    }


def _playbook_out(p: Playbook, v: PlaybookVersion) -> dict[str, Any]:
    return {
        "slug": p.slug,
        "status": p.status,
        "version": v.number,
        "current_version": p.version,
        "title": v.title,
        "document": v.document,
        "saved": _version_out(v),
        "url": p.get_absolute_url(),
    }


def _get(slug: str) -> Playbook:
    playbook = selectors.playbook_detail(slug=slug)
    if playbook is None or playbook.current is None:
        raise NotFound(_("No playbook “%s”.") % slug, field="slug")
    return playbook


class Pagination(BoundedLimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class PlaybookListView(APIView):
    permission_classes = [CanReadPlaybooks]

    @extend_schema(
        operation_id="playbooks_list",
        summary="List playbooks",
        parameters=[
            OpenApiParameter("q", str, description="Words in the title."),
            OpenApiParameter("failure_mode", str, description="A catalog failure mode's slug."),
            OpenApiParameter("monitor", str, description="A trigger monitor's name."),
            OpenApiParameter("status", str, enum=Playbook.Status.values),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: PlaybookPage},
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status", "")
        if status and status not in Playbook.Status.values:
            raise ServiceError(
                _("Unknown status."),
                errors={"status": [_("Must be one of %s.") % ", ".join(Playbook.Status.values)]},
            )
        params = request.query_params
        qs = selectors.playbooks_list(
            q=selectors.text_param(params, "q"),
            failure_mode=selectors.text_param(params, "failure_mode"),
            monitor=selectors.text_param(params, "monitor"),
            status=status,
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        data = [
            {
                "slug": p.slug,
                "status": p.status,
                "version": p.version,
                "title": p.current.title,
                "failure_modes": p.current.document.get("failure_modes", []),
                "triggers": p.current.document.get("triggers", []),
                "owner": p.current.document.get("owner", ""),
                "url": p.get_absolute_url(),
            }
            for p in page
        ]
        return paginator.get_paginated_response(data)

    @extend_schema(
        summary="Write a playbook (a draft, version 1)",
        request=PlaybookCreateIn,
        responses={201: PlaybookOut},
    )
    def post(self, request: Request) -> Response:
        data = PlaybookCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        playbook = services.playbook_create(
            actor=request.user,
            document=data.validated_data["document"],
            note=data.validated_data["note"],
        )
        return Response(_playbook_out(playbook, playbook.current), status=201)


class PlaybookDetailView(APIView):
    permission_classes = [CanReadPlaybooks]

    @extend_schema(
        operation_id="playbooks_retrieve",
        summary="A playbook: its current version, or ?version=N",
        parameters=[OpenApiParameter("version", int)],
        responses={200: PlaybookOut},
    )
    def get(self, request: Request, slug: str) -> Response:
        playbook = _get(slug)
        raw = request.query_params.get("version")
        version = playbook.current
        if raw is not None:
            number = parse_int(raw, name="version", minimum=1)
            version = selectors.playbook_version(playbook, number)
            if version is None:
                raise NotFound(_("This playbook has no version %s.") % number, field="version")
        return Response(_playbook_out(playbook, version))


class PlaybookVersionsView(APIView):
    permission_classes = [CanReadPlaybooks]

    @extend_schema(
        summary="A playbook's versions, newest first",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: PlaybookVersionPage},
    )
    def get(self, request: Request, slug: str) -> Response:
        playbook = _get(slug)
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.playbook_versions(playbook), request, view=self
        )
        return paginator.get_paginated_response([_version_out(v) for v in page])

    @extend_schema(
        summary="Save a new version (an edit never changes an old one)",
        request=PlaybookReviseIn,
        responses={
            201: PlaybookOut,
            409: OpenApiResponse(description="base_version is not the current version."),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        playbook = _get(slug)
        data = PlaybookReviseIn(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.playbook_revise(
            playbook=playbook,
            actor=request.user,
            document=data.validated_data["document"],
            base_version=data.validated_data["base_version"],
            note=data.validated_data["note"],
        )
        return Response(_playbook_out(playbook, version), status=201)

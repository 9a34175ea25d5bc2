"""Incidents API (issue 16): ``/api/v1/incidents`` (list, open), ``/api/v1/incidents/{id}``
(read, edit), and its ``transitions``, ``people``, ``links`` and ``notes``, for on-call tools
acting with a person's API token.

Same permissions as the pages (``selectors``): a person with a role reads the incidents of
the models they see (another one answers 404, like one that does not exist); engineers,
leads and an incident's commander run it (403 for the others); a producer's service token
reaches nothing here (403, like every person-only API). Thin: the role check, the input's
shape, one service or selector; the services hold every rule, audit every write with the
caller as the actor, and their errors answer ``{"errors": {"<field>": ["..."]}}``.
"""

from __future__ import annotations

from django.urls import path, reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import BoundedLimitOffsetPagination
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.params import DB_INT_MAX
from reviewapp.selectors.visibility import models_visible_to

from ..models import Incident, IncidentNote
from . import selectors, services
from .api_common import CanReadIncidents
from .serializers import (
    IncidentEditIn,
    IncidentLinksIn,
    IncidentNoteIn,
    IncidentOpenIn,
    IncidentOut,
    IncidentPage,
    IncidentPeopleIn,
    IncidentTransitionIn,
    NoteOut,
    NotePage,
    incident_representation,
    note_representation,
)

# ?status=: a group of statuses, or one status.
STATUS_GROUPS = {
    "open": selectors.OPEN_STATUSES,
    "closed": ("closed",),
    "cancelled": ("cancelled",),
}
STATUS_FILTERS = [*STATUS_GROUPS, *(s for s in Incident.Status.values if s not in STATUS_GROUPS)]
STALE = OpenApiResponse(description="`version` is not the incident's version: reload and redo.")


class Pagination(BoundedLimitOffsetPagination):
    default_limit = 50
    max_limit = 200


def _incident(request: Request, pk: int) -> Incident:
    """The incident if the caller may read it, else the 404 an unknown id gets."""
    found = None
    if 0 < pk <= DB_INT_MAX:
        found = (
            selectors.incidents_with_links(selectors.incidents_visible_to(request.user))
            .filter(pk=pk)
            .first()
        )
    if found is None:
        raise NotFound(_("No incident INC-%s.") % pk, field="id")
    return found


def _require_runner(request: Request, incident: Incident) -> None:
    if not selectors.may_run(request.user, incident):
        raise PermissionDenied(_("Only engineers, leads and this incident's commander run it."))


def _answer(request: Request, incident: Incident, status: int = 200, **headers: str) -> Response:
    """The incident as it is now (re-read, so the answer shows what the write did)."""
    fresh = _incident(request, incident.pk)
    api = request.build_absolute_uri(reverse("api-incident", args=[fresh.pk]))
    data = incident_representation(
        fresh, html=request.build_absolute_uri(fresh.get_absolute_url()), api=api
    )
    return Response(data, status=status, headers=headers)


def _stale_names_version(exc: ServiceError) -> ServiceError:
    """The services call the base version ``detail`` in a stale refusal; here it is the
    ``version`` the caller sent."""
    if exc.status == 409 and exc.code == "stale":
        return Conflict(exc.message, field="version", code="stale")
    return exc


class IncidentListView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incidents_list",
        summary="List incidents, newest detection first",
        description="The incidents of the models you can see. `status`: `open` (detected "
        "to verified), `closed`, `cancelled`, or one status; default every incident.",
        parameters=[
            OpenApiParameter("status", str, enum=STATUS_FILTERS),
            OpenApiParameter("severity", str, enum=list(services.SEVERITIES)),
            OpenApiParameter("model", str, description="A model's slug."),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: IncidentPage},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        errors: dict[str, list[str]] = {}
        status = params.get("status", "")
        if status and status not in STATUS_FILTERS:
            errors["status"] = [_("Must be one of %s.") % ", ".join(STATUS_FILTERS)]
        severity = params.get("severity", "")
        if severity and severity not in services.SEVERITIES:
            errors["severity"] = [_("Must be one of %s.") % ", ".join(services.SEVERITIES)]
        model = params.get("model", "")
        if model and not models_visible_to(request.user).filter(slug=model).exists():
            errors["model"] = [_("No model you can see.")]
        if errors:
            raise ServiceError(next(iter(errors.values()))[0], errors=errors)
        qs = selectors.incidents_visible_to(request.user)
        if status:
            qs = qs.filter(status__in=STATUS_GROUPS.get(status, (status,)))
        if severity:
            qs = qs.filter(severity=severity)
        if model:
            qs = qs.filter(model_links__model__slug=model)
        qs = selectors.incidents_with_links(qs.order_by("-detected_at", "-id"))
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        data = [
            incident_representation(
                i,
                html=request.build_absolute_uri(i.get_absolute_url()),
                api=request.build_absolute_uri(reverse("api-incident", args=[i.pk])),
            )
            for i in page
        ]
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="incidents_open",
        summary="Open an incident (engineers and leads; you become its commander)",
        description="Answers 201 with the incident and its address in `Location`. Its source "
        "is `api`. Times are ISO 8601 with a zone offset (UTC when none).",
        request=IncidentOpenIn,
        responses={201: IncidentOut},
    )
    def post(self, request: Request) -> Response:
        if not selectors.may_open(request.user):
            raise PermissionDenied(_("Only engineers and leads open incidents."))
        data = IncidentOpenIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        incident = services.incident_open(
            actor=request.user,
            title=v["title"],
            severity=v["severity"],
            model_slugs=v["models"],
            summary=v["summary"],
            playbook_slug=v["playbook"],
            failure_mode_slugs=v.get("failure_modes", ()),
            alert_ids=v.get("alerts", ()),
            review_item_ids=v.get("review_items", ()),
            impact_started_at=v.get("impact_started_at"),
            detected_at=v.get("detected_at"),
            source=Incident.Source.API,
        )
        location = request.build_absolute_uri(reverse("api-incident", args=[incident.pk]))
        return _answer(request, incident, 201, Location=location)


class IncidentDetailView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incidents_read",
        summary="An incident: status, milestones, durations, people, links",
        responses={200: IncidentOut},
    )
    def get(self, request: Request, pk: int) -> Response:
        return _answer(request, _incident(request, pk))

    @extend_schema(
        operation_id="incidents_edit",
        summary="Edit the title, summary, severity or milestone times",
        description="Only the fields sent change. A milestone is recorded by its transition "
        "first; an edit then corrects its time. Times out of order are a 400 naming the field.",
        request=IncidentEditIn,
        responses={200: IncidentOut, 409: STALE},
    )
    def patch(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        _require_runner(request, incident)
        data = IncidentEditIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = fields.pop("version")
        try:
            services.incident_edit(
                incident=incident, actor=request.user, base_version=version, **fields
            )
        except ServiceError as exc:
            raise _stale_names_version(exc) from exc
        return _answer(request, incident)


class IncidentTransitionView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incidents_transition",
        summary="Move an incident through its lifecycle",
        description="Events: triage, contain, remediate, verify, reopen (verification "
        "failed), close, cancel (with a reason). Each stamps its milestone at `at` (default "
        "now). 409 when the incident's status does not allow the event, or `version` is stale.",
        request=IncidentTransitionIn,
        responses={
            200: IncidentOut,
            409: OpenApiResponse(description="Not allowed from its status, or a stale version."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        _require_runner(request, incident)
        data = IncidentTransitionIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            services.incident_transition(
                incident=incident,
                event=v["event"],
                actor=request.user,
                base_version=v["version"],
                at=v.get("at"),
                reason=v["reason"],
            )
        except ServiceError as exc:
            raise _stale_names_version(exc) from exc
        return _answer(request, incident)


class IncidentPeopleView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incidents_people",
        summary="Hand over command, add or remove a person's role",
        description="`commander`: hand the command to an engineer or a lead (`role` not "
        "used; `version` optional, 409 if stale). `add` / `remove`: a person as scribe, "
        "liaison, participant or observer (409: already in that role).",
        request=IncidentPeopleIn,
        responses={
            200: IncidentOut,
            409: OpenApiResponse(description="Already in that role, or a stale version."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        _require_runner(request, incident)
        data = IncidentPeopleIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        action, username = v["action"], v["username"]
        if action != "commander" and "role" not in v:
            message = _("Name the role to add or remove.")
            raise ServiceError(message, errors={"role": [message]})
        try:
            if action == "commander":
                services.incident_commander_set(
                    incident=incident,
                    actor=request.user,
                    username=username,
                    base_version=v.get("version"),
                )
            elif action == "add":
                services.incident_member_add(
                    incident=incident, actor=request.user, username=username, role=v["role"]
                )
            else:
                services.incident_member_remove(
                    incident=incident, actor=request.user, username=username, role=v["role"]
                )
        except ServiceError as exc:
            raise _stale_names_version(exc) from exc
        return _answer(request, incident)


class IncidentLinksView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incidents_link",
        summary="Link more models, alerts, review items or failure modes",
        description="Adds; what is already linked stays. Alerts and review items must be "
        "about the incident's models (or the models sent with them).",
        request=IncidentLinksIn,
        responses={200: IncidentOut},
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        _require_runner(request, incident)
        data = IncidentLinksIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        services.incident_link(
            incident=incident,
            actor=request.user,
            model_slugs=v.get("models", ()),
            alert_ids=v.get("alerts", ()),
            review_item_ids=v.get("review_items", ()),
            failure_mode_slugs=v.get("failure_modes", ()),
        )
        return _answer(request, incident)


class IncidentNotesView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incidents_notes_list",
        summary="An incident's notes, oldest first",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: NotePage},
    )
    def get(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        qs = IncidentNote.objects.filter(incident=incident).select_related("author")
        paginator = Pagination()
        page = paginator.paginate_queryset(qs.order_by("created_at", "id"), request, view=self)
        return paginator.get_paginated_response([note_representation(n) for n in page])

    @extend_schema(
        operation_id="incidents_notes_add",
        summary="Write a note on the timeline (the incident's team)",
        description="Engineers, leads, the commander, and its scribe, liaison and participants.",
        request=IncidentNoteIn,
        responses={201: NoteOut},
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        data = IncidentNoteIn(data=request.data)
        data.is_valid(raise_exception=True)
        note = services.incident_note_add(
            incident=incident, actor=request.user, body=data.validated_data["body"]
        )
        note = IncidentNote.objects.select_related("author").get(pk=note.pk)
        return Response(note_representation(note), status=201)


urlpatterns = [
    path("incidents", IncidentListView.as_view(), name="api-incidents"),
    path("incidents/<int:pk>", IncidentDetailView.as_view(), name="api-incident"),
    path(
        "incidents/<int:pk>/transitions",
        IncidentTransitionView.as_view(),
        name="api-incident-transitions",
    ),
    path("incidents/<int:pk>/people", IncidentPeopleView.as_view(), name="api-incident-people"),
    path("incidents/<int:pk>/links", IncidentLinksView.as_view(), name="api-incident-links"),
    path("incidents/<int:pk>/notes", IncidentNotesView.as_view(), name="api-incident-notes"),
]

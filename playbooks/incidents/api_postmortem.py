"""Post-mortem and action items API:

- ``GET/PUT /api/v1/incidents/{id}/postmortem`` (PUT starts it when there is none, prefilled,
  then applies the given fields; an existing one needs ``base_version``: 409 when stale),
- ``POST /api/v1/incidents/{id}/postmortem/publish``,
- ``GET/POST /api/v1/incidents/{id}/action-items``,
  ``PATCH /api/v1/incidents/{id}/action-items/{aid}`` (fields, or ``status`` done/cancelled),
- ``GET /api/v1/action-items?owner=me&overdue=true`` (the caller's own by default).

Same permissions as the pages: readers of the incident read; engineers, leads and its
commander write (the owner may also close their own item).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import BoundedLimitOffsetPagination, StrictInputSerializer, id_field
from reviewapp.core.exceptions import NotFound, PermissionDenied, ServiceError
from reviewapp.core.params import DB_INT_MAX

from ..models import ActionItem, Incident, PostMortem
from . import actions, postmortem, selectors
from .api_common import CanReadIncidents
from .api_common import incident_or_404 as _incident


class Pagination(BoundedLimitOffsetPagination):
    default_limit = 50
    max_limit = 200


# -- post-mortem ----------------------------------------------------------------------------


def _text_field() -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_blank=True, max_length=postmortem.MAX_TEXT, trim_whitespace=False
    )


class PostMortemIn(StrictInputSerializer):
    base_version = id_field(required=False, help_text="The version you read (409 if not current).")
    summary = _text_field()
    impact = _text_field()
    root_causes = _text_field()
    trigger = _text_field()
    detection = _text_field()
    resolution = _text_field()
    went_well = _text_field()
    went_wrong = _text_field()
    got_lucky = _text_field()


class PublishIn(StrictInputSerializer):
    base_version = id_field(help_text="The version you read (409 if not current).")


class PostMortemOut(serializers.Serializer):
    incident = serializers.IntegerField()
    status = serializers.ChoiceField(PostMortem.Status.choices)
    version = serializers.IntegerField()
    summary = serializers.CharField()
    impact = serializers.CharField()
    root_causes = serializers.CharField()
    trigger = serializers.CharField()
    detection = serializers.CharField()
    resolution = serializers.CharField()
    went_well = serializers.CharField()
    went_wrong = serializers.CharField()
    got_lucky = serializers.CharField()
    author = serializers.CharField(allow_null=True)
    published_at = serializers.DateTimeField(allow_null=True)
    catalog_failure_mode = serializers.CharField(allow_null=True)
    catalog_case_study = serializers.CharField(allow_null=True)
    affected_predictions = serializers.IntegerField(
        help_text="Passed without review between impact start and containment (live)."
    )


def _pm_out(pm: PostMortem) -> dict[str, Any]:
    return {
        "incident": pm.incident_id,
        "status": pm.status,
        "version": pm.version,
        **{f: getattr(pm, f) for f in postmortem.TEXT_FIELDS},
        "author": pm.author.get_username() if pm.author_id else None,
        "published_at": pm.published_at,
        "catalog_failure_mode": pm.catalog_failure_mode.slug
        if pm.catalog_failure_mode_id
        else None,
        "catalog_case_study": pm.catalog_case_study.slug if pm.catalog_case_study_id else None,
        "affected_predictions": postmortem.affected_predictions(pm.incident).passed,
    }


def _pm_of(incident: Incident) -> PostMortem:
    pm = (
        PostMortem.objects.select_related("incident", "author", "catalog_failure_mode",
                                          "catalog_case_study")
        .filter(incident=incident)
        .first()
    )  # fmt: skip
    if pm is None:
        raise NotFound(_("This incident has no post-mortem yet."), field="postmortem")
    return pm


class PostMortemView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incident_postmortem_retrieve",
        summary="An incident's post-mortem",
        responses={200: PostMortemOut},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_pm_out(_pm_of(_incident(request, pk))))

    @extend_schema(
        operation_id="incident_postmortem_update",
        summary="Write the post-mortem (starts it, prefilled, when there is none)",
        request=PostMortemIn,
        responses={
            200: PostMortemOut,
            409: OpenApiResponse(description="Stale base_version, or not remediated yet."),
        },
    )
    def put(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        data = PostMortemIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        base_version = fields.pop("base_version", None)
        pm = PostMortem.objects.filter(incident=incident).first()
        if pm is None:
            pm = postmortem.postmortem_start(incident=incident, actor=request.user)
            base_version = pm.version
        elif base_version is None:
            raise ServiceError(
                _("Give the version you read."), errors={"base_version": [_("Required.")]}
            )
        pm.incident = incident
        postmortem.postmortem_save(
            postmortem=pm, actor=request.user, base_version=base_version, **fields
        )
        return Response(_pm_out(_pm_of(incident)))


class PostMortemPublishView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incident_postmortem_publish",
        summary="Publish the post-mortem",
        request=PublishIn,
        responses={
            200: PostMortemOut,
            409: OpenApiResponse(description="Already published, or stale base_version."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        data = PublishIn(data=request.data)
        data.is_valid(raise_exception=True)
        pm = _pm_of(incident)
        postmortem.postmortem_publish(
            postmortem=pm, actor=request.user, base_version=data.validated_data["base_version"]
        )
        return Response(_pm_out(_pm_of(incident)))


# -- action items ---------------------------------------------------------------------------


class ActionItemIn(StrictInputSerializer):
    kind = serializers.ChoiceField(ActionItem.Kind.choices)
    title = serializers.CharField(max_length=actions.MAX_TITLE)
    owner = serializers.CharField(max_length=150, help_text="An active user's username.")
    due_on = serializers.DateField()


class ActionItemPatchIn(StrictInputSerializer):
    base_version = id_field(required=False, help_text="The version you read (409 if not current).")
    kind = serializers.ChoiceField(ActionItem.Kind.choices, required=False)
    title = serializers.CharField(max_length=actions.MAX_TITLE, required=False)
    owner = serializers.CharField(max_length=150, required=False)
    due_on = serializers.DateField(required=False)
    status = serializers.ChoiceField(
        [ActionItem.Status.DONE, ActionItem.Status.CANCELLED],
        required=False,
        help_text="Close the item (alone: not with other fields).",
    )


class ActionItemOut(serializers.Serializer):
    id = serializers.IntegerField()
    incident = serializers.IntegerField()
    kind = serializers.ChoiceField(ActionItem.Kind.choices)
    title = serializers.CharField()
    owner = serializers.CharField()
    due_on = serializers.DateField()
    status = serializers.ChoiceField(ActionItem.Status.choices)
    overdue = serializers.BooleanField()
    done_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()


class ActionItemPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ActionItemOut(many=True)


def _item_out(item: ActionItem) -> dict[str, Any]:
    return {
        "id": item.pk,
        "incident": item.incident_id,
        "kind": item.kind,
        "title": item.title,
        "owner": item.owner.get_username(),
        "due_on": item.due_on,
        "status": item.status,
        "overdue": actions.is_overdue(item),
        "done_at": item.done_at,
        "version": item.version,
    }


class ActionItemListView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incident_action_items_list",
        summary="An incident's action items",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: ActionItemPage},
    )
    def get(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        qs = ActionItem.objects.filter(incident=incident).select_related("owner")
        paginator = Pagination()
        page = paginator.paginate_queryset(qs.order_by("due_on", "id"), request, view=self)
        return paginator.get_paginated_response([_item_out(i) for i in page])

    @extend_schema(
        operation_id="incident_action_items_create",
        summary="Add an action item (its owner is told)",
        request=ActionItemIn,
        responses={201: ActionItemOut},
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = _incident(request, pk)
        data = ActionItemIn(data=request.data)
        data.is_valid(raise_exception=True)
        item = actions.action_item_add(incident=incident, actor=request.user, **data.validated_data)
        return Response(_item_out(item), status=201)


class ActionItemDetailView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incident_action_items_partial_update",
        summary="Edit an open action item, or close it (status done/cancelled)",
        request=ActionItemPatchIn,
        responses={200: ActionItemOut, 409: OpenApiResponse(description="Stale or not open.")},
    )
    def patch(self, request: Request, pk: int, aid: int) -> Response:
        incident = _incident(request, pk)
        item = (
            ActionItem.objects.filter(incident=incident, pk=min(aid, DB_INT_MAX))
            .select_related("incident", "owner")
            .first()
        )
        if item is None:
            raise NotFound(_("No such action item."), field="aid")
        data = ActionItemPatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        base_version = fields.pop("base_version", None)
        status = fields.pop("status", None)
        if status and fields:
            raise ServiceError(
                _("Close an item on its own, not with other changes."),
                errors={"status": [_("Send status alone.")]},
            )
        if status:
            item = actions.action_item_close(
                item=item, actor=request.user, status=status, base_version=base_version
            )
        else:
            item = actions.action_item_edit(
                item=item, actor=request.user, base_version=base_version, **fields
            )
        return Response(_item_out(item))


class MyActionItemsView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="action_items_list",
        summary="Action items by owner (the caller's own by default), open ones",
        parameters=[
            OpenApiParameter("owner", str, description="`me` (default) or a username."),
            OpenApiParameter("overdue", bool, description="Only those due before today."),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: ActionItemPage},
    )
    def get(self, request: Request) -> Response:
        owner = request.query_params.get("owner", "me") or "me"
        overdue = request.query_params.get("overdue", "false")
        if overdue not in ("true", "false", "1", "0"):
            raise ServiceError(
                _("overdue must be true or false."), errors={"overdue": [_("true or false.")]}
            )
        if owner in ("me", request.user.get_username()):
            person = request.user
        else:
            if not selectors.may_open(request.user):
                raise PermissionDenied(
                    _("Only engineers and leads read other people's action items."), field="owner"
                )
            user_model = get_user_model()
            person = user_model.objects.filter(**{user_model.USERNAME_FIELD: owner[:150]}).first()
            if person is None:
                raise ServiceError(
                    _("No user “%s”.") % owner[:150], errors={"owner": [_("No such user.")]}
                )
        qs = ActionItem.objects.filter(
            owner=person,
            status=ActionItem.Status.OPEN,
            incident__in=selectors.incidents_visible_to(request.user),
        ).select_related("owner")
        if overdue in ("true", "1"):
            qs = qs.filter(due_on__lt=actions.today())
        paginator = Pagination()
        page = paginator.paginate_queryset(qs.order_by("due_on", "id"), request, view=self)
        return paginator.get_paginated_response([_item_out(i) for i in page])


urlpatterns = [
    path("incidents/<int:pk>/postmortem", PostMortemView.as_view(), name="incident-postmortem"),
    path(
        "incidents/<int:pk>/postmortem/publish",
        PostMortemPublishView.as_view(),
        name="incident-postmortem-publish",
    ),
    path(
        "incidents/<int:pk>/action-items",
        ActionItemListView.as_view(),
        name="incident-action-items",
    ),
    path(
        "incidents/<int:pk>/action-items/<int:aid>",
        ActionItemDetailView.as_view(),
        name="incident-action-item",
    ),
    path("action-items", MyActionItemsView.as_view(), name="action-items"),
]

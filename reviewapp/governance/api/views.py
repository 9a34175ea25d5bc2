"""Governance API: change requests (list, propose, read, edit, every action), a model's policy
versions and the emergency rollback. Thin: each view checks the role, validates the body's
shape, calls one service or selector and answers. The services hold every rule and raise
core's exceptions, which the project's exception handler turns into
``{"errors": {"field": ["..."]}}`` with 400/403/404/409. Every action answers 200 with the
whole request as ``GET /api/v1/change-requests/{id}`` shows it."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core import roles
from reviewapp.core.api import BoundedLimitOffsetPagination
from reviewapp.core.exceptions import NotFound

from .. import selectors, services
from ..models import ChangeRequest, DocumentKind
from . import serializers as s


# --- who may call -------------------------------------------------------------------------------
class CanReadChangeRequests(BasePermission):
    """Committee members, leads and engineers (and a model's named approvers); never a
    producer's token. Which of them may do what to a request is the services' check."""

    message = _("Only committee members, leads and engineers use change requests.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return selectors.may_read_change_requests(request.user)


def is_service(principal: Any) -> bool:
    """A producer's service token (its principal says so); never a person."""
    return bool(getattr(principal, "is_service", False))


class CanReadPolicyVersions(BasePermission):
    message = _("Only reviewers, leads, committee members and engineers read policies.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return not is_service(user) and roles.has_role(
            user, roles.REVIEWER, roles.LEAD, roles.COMMITTEE, roles.ENGINEER
        )


class IsLead(BasePermission):
    message = _("Only leads roll back in an emergency.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return not is_service(request.user) and roles.has_role(request.user, roles.LEAD)


# --- answers ------------------------------------------------------------------------------------
def representations(requests: list[ChangeRequest], *, detail: bool) -> list[dict[str, Any]]:
    """Requests as the API shows them; votes and quorums in a fixed number of queries."""
    live = selectors.live_approvals_of(requests)
    quorums = selectors.quorums(requests, live=live)
    shadowed = [cr for cr in requests if cr.shadow_started_at is not None]
    shadows = selectors.shadow_summaries(shadowed) if shadowed else {}
    return [
        s.change_request_representation(
            cr,
            quorum=quorums[cr.pk],
            approvals=live[cr.pk],
            detail=detail,
            shadow=shadows.get(cr.pk),
        )  # fmt: skip
        for cr in requests
    ]


def change_request_answer(change_request_id: int, *, code: int = status.HTTP_200_OK) -> Response:
    cr = selectors.change_request_get(change_request_id)
    if cr is None:
        raise NotFound(_("No such change request."), field="change_request")
    return Response(representations([cr], detail=True)[0], status=code)


def valid(serializer_class: type, request: Request) -> dict[str, Any]:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


CONFLICT_STATE = OpenApiResponse(
    description="Not allowed from the request's current state, or the request is stale."
)
LIST_PARAMETERS = [
    OpenApiParameter("model", str, description="The model's slug."),
    OpenApiParameter("status", str, enum=ChangeRequest.Status.values),
    OpenApiParameter("kind", str, enum=DocumentKind.values),
]


class ChangeRequestPagination(BoundedLimitOffsetPagination):
    max_limit = 200


# --- change requests ----------------------------------------------------------------------------
class ChangeRequestListView(APIView):
    permission_classes = [CanReadChangeRequests]
    pagination_class = ChangeRequestPagination

    @extend_schema(
        summary="List change requests, newest first",
        description="Each request as `GET /change-requests/{id}` shows it, without its "
        "comments and the computed evidence (`evidence.report`).",
        operation_id="v1_change_requests_list",
        parameters=LIST_PARAMETERS,
        responses=s.ChangeRequestOut(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = s.ChangeRequestFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        qs = selectors.change_requests(
            model_slug=f.get("model"), status=f.get("status"), kind=f.get("kind")
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(representations(list(page), detail=False))

    @extend_schema(
        summary="Propose a change (a draft)",
        description="Engineers and leads. `rules` holds the proposed document of `kind`. A "
        "document equal to the active version is a 400 on `rules`; each bad rule is named by "
        "its path (`rules.segments[0].min_confidence`).",
        request=s.ChangeRequestCreateIn,
        responses={201: s.ChangeRequestOut, 404: OpenApiResponse(description="No such model.")},
    )
    def post(self, request: Request) -> Response:
        v = valid(s.ChangeRequestCreateIn, request)
        cr = services.change_request_create(
            model_slug=v["model"],
            kind=v["kind"],
            user=request.user,
            document=v["rules"],
            rationale=v["rationale"],
            scheduled_for=v["scheduled_for"],
            rollback_triggers=v["rollback_triggers"],
            shadow_minutes=v["shadow_minutes"],
        )
        return change_request_answer(cr.pk, code=status.HTTP_201_CREATED)


class ChangeRequestDetailView(APIView):
    permission_classes = [CanReadChangeRequests]

    @extend_schema(summary="One change request", responses=s.ChangeRequestOut)
    def get(self, request: Request, pk: int) -> Response:
        return change_request_answer(pk)

    @extend_schema(
        summary="Edit a request (the proposer, while draft, in review or changes requested)",
        description="Only the fields sent change. New rules or a new rationale are a new "
        "revision: every vote lapses and the evidence is computed again.",
        request=s.ChangeRequestEditIn,
        responses={200: s.ChangeRequestOut, 409: CONFLICT_STATE},
    )
    def patch(self, request: Request, pk: int) -> Response:
        v = valid(s.ChangeRequestEditIn, request)
        changes = dict(v)
        if "rules" in changes:
            changes["document"] = changes.pop("rules")
        services.change_request_edit(change_request_id=pk, user=request.user, **changes)
        return change_request_answer(pk)


class _ActionView(APIView):
    """POST /change-requests/{id}/<action>: one service call, then the whole request."""

    permission_classes = [CanReadChangeRequests]

    def act(self, request: Request, pk: int) -> None:
        raise NotImplementedError

    def post(self, request: Request, pk: int) -> Response:
        self.act(request, pk)
        return change_request_answer(pk)


def action_schema(summary: str, request: type | None = None, **kwargs: Any):
    return extend_schema(
        summary=summary,
        request=request,
        responses={200: s.ChangeRequestOut, 409: CONFLICT_STATE},
        **kwargs,
    )


@action_schema("Submit for review (the proposer; a request with changes requested is resubmitted)")
class SubmitView(_ActionView):
    def act(self, request: Request, pk: int) -> None:
        # One endpoint for both transitions out of the proposer's hands: the service of the
        # request's status as read; a status that moved meanwhile is the service's 409.
        cr = ChangeRequest.objects.filter(pk=pk).only("status").first()
        if cr is not None and cr.status == ChangeRequest.Status.CHANGES_REQUESTED:
            services.change_request_resubmit(change_request_id=pk, user=request.user)
        else:
            services.change_request_submit(change_request_id=pk, user=request.user)


@action_schema(
    "Approve, bound to the evidence you reviewed (committee or the model's approver group)",
    s.ApproveIn,
    description="409 for a second vote, a stale request, an `evidence_hash` that is not the "
    "current `evidence.hash`, or a request not in review; 403 for your own request.",
)
class ApproveView(_ActionView):
    def act(self, request: Request, pk: int) -> None:
        v = valid(s.ApproveIn, request)
        services.change_request_approve(change_request_id=pk, user=request.user, **v)


@action_schema("Reject (a voter; `comment` required)", s.CommentIn)
class RejectView(_ActionView):
    def act(self, request: Request, pk: int) -> None:
        v = valid(s.CommentIn, request)
        services.change_request_reject(change_request_id=pk, user=request.user, **v)


@action_schema("Request changes (a voter)", s.OptionalCommentIn)
class RequestChangesView(_ActionView):
    def act(self, request: Request, pk: int) -> None:
        v = valid(s.OptionalCommentIn, request)
        services.change_request_request_changes(change_request_id=pk, user=request.user, **v)


@action_schema("Withdraw (the proposer)")
class WithdrawView(_ActionView):
    def act(self, request: Request, pk: int) -> None:
        services.change_request_withdraw(change_request_id=pk, user=request.user)


@action_schema("Rebase onto the active version (the proposer); the evidence is computed again")
class RebaseView(_ActionView):
    def act(self, request: Request, pk: int) -> None:
        services.change_request_rebase(change_request_id=pk, user=request.user)


@action_schema("Comment (Markdown; engineers, leads and voters)", s.DiscussionIn)
class CommentView(_ActionView):
    def act(self, request: Request, pk: int) -> None:
        v = valid(s.DiscussionIn, request)
        body = v.get("body", v.get("comment", ""))
        services.change_request_comment(change_request_id=pk, user=request.user, body=body)


@action_schema(
    "Ratify an emergency rollback (committee or the model's approver group; not its lead)",
    s.OptionalCommentIn,
)
class RatifyView(_ActionView):
    def act(self, request: Request, pk: int) -> None:
        v = valid(s.OptionalCommentIn, request)
        services.change_request_ratify(change_request_id=pk, user=request.user, **v)


# --- a model's policy -----------------------------------------------------------------------
def _visible_model(user: Any, slug: str) -> None:
    """404 for a model that does not exist or that the caller may not see (a reviewer outside
    its pools), the same answer either way."""
    if selectors.visible_model(user, slug) is None:
        raise NotFound(_("No such model."), field="model")


class PolicyVersionListView(APIView):
    permission_classes = [CanReadPolicyVersions]
    pagination_class = BoundedLimitOffsetPagination

    @extend_schema(
        summary="A model's policy versions, newest first",
        description="Reviewers read the models of their pools; leads, committee members and "
        "engineers every model.",
        responses=s.PolicyVersionOut(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        _visible_model(request.user, slug)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.policy_versions_for(slug), request, view=self)
        return paginator.get_paginated_response([s.policy_version_representation(v) for v in page])


class EmergencyRollbackView(APIView):
    permission_classes = [IsLead]

    @extend_schema(
        summary="Emergency rollback to the previously active version (leads)",
        description="Applied at once; one committee ratification is due within 24 h "
        "(`POST /change-requests/{id}/ratify`). Answers the rollback's change request. A "
        "`to_version` other than the version active immediately before the current one is a "
        "409.",
        request=s.EmergencyRollbackIn,
        responses={
            200: s.ChangeRequestOut,
            409: OpenApiResponse(description="Not the previously active version."),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        _visible_model(request.user, slug)
        v = valid(s.EmergencyRollbackIn, request)
        cr = services.emergency_rollback(model_slug=slug, user=request.user, **v)
        return change_request_answer(cr.pk)

"""The fail-safe API's model endpoints: a model with its operating mode and monitors, and the
mode switch. Thin: each view checks who calls, validates the body's shape, calls one service
or selector and answers; the services hold every rule and raise core's exceptions, which the
project's exception handler turns into ``{"errors": {"field": ["..."]}}``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.permissions import CanReadPredictions
from reviewapp.core.exceptions import NotFound, PermissionDenied, ServiceError
from reviewapp.models import MLModel, Mode
from reviewapp.selectors.ingest import models_visible_to

from ..services import modes
from .serializers import ModeIn, ModelDetailOut, model_representation


def is_service(principal: Any) -> bool:
    return bool(getattr(principal, "is_service", False))


class IsPerson(BasePermission):
    """A signed-in person (session or personal token); never a producer's service token.
    Which people may switch which model is the service's rule (``modes.may_stop``)."""

    message = _("Only leads switch a model's mode; a service token may not.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return not is_service(user) and bool(user and user.is_authenticated)


def visible_model(request: Request, slug: str) -> MLModel:
    """The model if the caller may read it (the models list's rule), else the 404 an unknown
    slug gets: a token's other models cannot be probed."""
    account = getattr(request.user, "account", None) if is_service(request.user) else None
    model = models_visible_to(account).select_related("mode_row").filter(slug=slug).first()
    if model is None:
        raise NotFound(_("No such model."), field="slug")
    return model


def model_answer(model: MLModel) -> Response:
    return Response(
        model_representation(
            model, mode=modes.mode_row_of(model), monitors=modes.monitor_states(model)
        )
    )


class ModelDetailView(APIView):
    permission_classes = [CanReadPredictions]

    @extend_schema(
        operation_id="models_read",
        summary="One model, with its operating mode and monitors",
        description="The fields of `GET /models` plus the operating mode (`normal`, "
        "`contained`: every prediction goes to a human; `halted`: the output is not used), "
        "since when, why, when a containment must be looked at again, and the state of each "
        "monitor. A service token reads the models it may send for; an unknown model and "
        "one the token may not read get the same 404.",
        responses={200: ModelDetailOut, 404: OpenApiResponse(description="No such model.")},
    )
    def get(self, request: Request, slug: str) -> Response:
        return model_answer(visible_model(request, slug))


class ModelModeView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="models_mode_switch",
        summary="Contain, halt or lift a model (leads)",
        description="Leads switch any model; the commander of an open incident on the model "
        "may contain or halt it. `reason` is required. 409 when the model is already in that "
        "mode, and when a monitor stopped it and its alert is not acknowledged yet. Answers "
        "the model as `GET /models/{slug}` shows it.",
        request=ModeIn,
        responses={
            200: ModelDetailOut,
            404: OpenApiResponse(description="No such model."),
            409: OpenApiResponse(description="Already in that mode, or an alert to acknowledge."),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        model = visible_model(request, slug)
        user = request.user
        if not (
            modes.may_stop(user, model, Mode.CONTAINED) or modes.may_stop(user, model, Mode.HALTED)
        ):
            raise PermissionDenied(
                _("Only a lead or the commander of an open incident on this model may switch it.")
            )
        data = ModeIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v["mode"] == Mode.NORMAL and v["review_by"] is not None:
            message = _("Only a containment or a halt has a review-by time.")
            raise ServiceError(message, errors={"review_by": [message]})
        modes.mode_change(
            model=model, mode=v["mode"], reason=v["reason"], user=user, review_by=v["review_by"]
        )
        return model_answer(visible_model(request, slug))

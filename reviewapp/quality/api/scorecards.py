"""Agreement and scorecards API: ``GET /api/v1/quality/agreement`` and
``GET /api/v1/quality/reviewers/{id}/scorecard``. Same rules as the pages: leads, engineers
and committee members read agreement for every model, a reviewer for their pools' models;
a scorecard is for leads and for its own reviewer (anyone else: 404). Service tokens: 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import error_response
from reviewapp.core.exceptions import NotFound
from reviewapp.core.params import DB_INT_MAX, int_or_none
from reviewapp.selectors.visibility import is_service, models_visible_to

from ..selectors import agreement as agreement_sel
from ..selectors import scorecards as sel

ERRORS = OpenApiResponse(description='`{"errors": {"<parameter>": ["..."]}}`')


class IsPerson(BasePermission):
    message = _("Scorecards and agreement figures are for people, not service tokens.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return not is_service(user) and bool(getattr(user, "is_authenticated", False))


class ScorecardFigureOut(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True, help_text="95% interval, low end.")
    high = serializers.FloatField(allow_null=True, help_text="95% interval, high end.")
    n = serializers.IntegerField(help_text="Items behind the figure.")
    few = serializers.BooleanField(help_text="Fewer than 20 items.")


class ScorecardLabelAgreementOut(serializers.Serializer):
    label = serializers.CharField()
    kappa = ScorecardFigureOut()
    alpha = ScorecardFigureOut()


class ScorecardModelAgreementOut(serializers.Serializer):
    model = serializers.SlugField()
    kappa = ScorecardFigureOut(help_text="Cohen's kappa over blind second-review pairs.")
    alpha = ScorecardFigureOut(help_text="Krippendorff's alpha (nominal) across reviewers.")
    pairs_agreeing = ScorecardFigureOut(
        help_text="Share of second-review pairs with the same label."
    )
    labels = ScorecardLabelAgreementOut(many=True, help_text="One label against the rest.")


class ScorecardAgreementOut(serializers.Serializer):
    days = serializers.IntegerField()
    models = ScorecardModelAgreementOut(many=True)


class ScorecardWeekOut(serializers.Serializer):
    week = serializers.DateField(help_text="Monday (UTC) the week starts on.")
    decisions = serializers.IntegerField()
    gold_accuracy = ScorecardFigureOut()
    median_seconds = serializers.FloatField(allow_null=True)
    override_share = serializers.FloatField(allow_null=True)


class ScorecardReviewerOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class ScorecardRubberStampOut(ScorecardFigureOut):
    from_gold = serializers.IntegerField()
    from_adjudications = serializers.IntegerField()


class ScorecardOut(serializers.Serializer):
    reviewer = ScorecardReviewerOut()
    since = serializers.DateTimeField()
    days = serializers.IntegerField()
    model = serializers.SlugField(allow_null=True)
    pools = serializers.ListField(child=serializers.SlugField())
    decisions = serializers.IntegerField()
    gold_accuracy = ScorecardFigureOut()
    qualification_accuracy = ScorecardFigureOut()
    peer_agreement = ScorecardFigureOut()
    override_share = ScorecardFigureOut()
    peer_override_share = ScorecardFigureOut()
    median_seconds = serializers.FloatField(allow_null=True)
    p10_seconds = serializers.FloatField(allow_null=True)
    timed_decisions = serializers.IntegerField()
    rubber_stamp_index = ScorecardRubberStampOut()
    open_alerts = serializers.IntegerField()
    weeks = ScorecardWeekOut(many=True)


def _window(request: Request) -> tuple[int, Any, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    days = agreement_sel.DEFAULT_DAYS
    raw = request.query_params.get("days", "")
    if raw != "":
        parsed = int_or_none(raw, minimum=1, maximum=agreement_sel.MAX_DAYS)
        if parsed is None:
            errors["days"] = [
                _("Give days as a whole number from 1 to %(max)s.")
                % {"max": agreement_sel.MAX_DAYS}
            ]
        else:
            days = parsed
    model = None
    slug = request.query_params.get("model", "")
    if slug:
        model = models_visible_to(request.user).filter(slug=slug).first()
        if model is None:
            errors["model"] = [_("Unknown model '%(slug)s'.") % {"slug": slug[:100]}]
    return days, model, errors


WINDOW_PARAMETERS = [
    OpenApiParameter("model", str, description="The model's slug."),
    OpenApiParameter("days", int, description="The window in days (1–730, default 90)."),
]


class AgreementView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="v1_quality_agreement",
        summary="Agreement between reviewers per model and label (kappa, alpha, intervals, n)",
        description="Every model the caller reads (or the one named). Service tokens: 403.",
        parameters=WINDOW_PARAMETERS,
        responses={200: ScorecardAgreementOut, 400: ERRORS, 403: ERRORS},
    )
    def get(self, request: Request) -> Response:
        days, model, errors = _window(request)
        if errors:
            return error_response(errors, 400)
        figures = agreement_sel.agreement_by_model(
            user=request.user, days=days, model_slug=model.slug if model else None
        )
        return Response({"days": days, "models": [f.as_dict() for f in figures]})


class ScorecardView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="v1_quality_reviewer_scorecard",
        summary="A reviewer's scorecard (leads: anyone's; a reviewer: their own)",
        description="Anyone else's scorecard answers 404, like an id nobody has.",
        parameters=WINDOW_PARAMETERS,
        responses={200: ScorecardOut, 400: ERRORS, 403: ERRORS, 404: ERRORS},
    )
    def get(self, request: Request, user_id: int) -> Response:
        if user_id > DB_INT_MAX or not sel.may_read_scorecard(request.user, user_id):
            raise NotFound(_("No such scorecard."))
        reviewer = get_user_model().objects.filter(pk=user_id).first()
        if reviewer is None:
            raise NotFound(_("No such scorecard."))
        days, model, errors = _window(request)
        if errors:
            return error_response(errors, 400)
        card = sel.scorecard(
            reviewer=reviewer,
            days=days,
            model_id=model.pk if model else None,
            model_slug=model.slug if model else None,
            with_automation_bias=False,
        )
        return Response(card.as_dict())


urlpatterns = [
    path("quality/agreement", AgreementView.as_view(), name="quality-agreement"),
    path(
        "quality/reviewers/<int:user_id>/scorecard",
        ScorecardView.as_view(),
        name="quality-reviewer-scorecard",
    ),
]

"""The agreement overview (/quality/) and reviewer scorecards (/quality/reviewers/<id>/,
/quality/me/). Thin: parameters, a permission check, one selector, the template.

Who reads what: leads, engineers and committee members read the overview's agreement per
model; only leads see its reviewers table and open any reviewer's scorecard. Everyone else
reads their own scorecard only; another person's answers 404, the same as an id nobody has.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from reviewapp.core import roles
from reviewapp.core.exceptions import RoleRequired
from reviewapp.core.params import DB_INT_MAX, ParamError, parse_int
from reviewapp.selectors.visibility import models_visible_to

from ..charts import trend_charts
from ..selectors import agreement as agreement_sel
from ..selectors import scorecards as sel

OVERVIEW_ROLES = (roles.LEAD, roles.ENGINEER, roles.COMMITTEE)


def _window(request: HttpRequest) -> tuple[int, Any, dict[str, str]]:
    """``days`` and ``model`` from the query string, and a message per bad one."""
    errors: dict[str, str] = {}
    try:
        days = parse_int(
            request.GET.get("days") or None,
            name="days",
            minimum=1,
            maximum=agreement_sel.MAX_DAYS,
            default=agreement_sel.DEFAULT_DAYS,
        )
    except ParamError as exc:
        errors["days"] = exc.message
        days = agreement_sel.DEFAULT_DAYS
    model = None
    slug = request.GET.get("model", "").strip()
    if slug:
        model = models_visible_to(request.user).filter(slug=slug).first()
        if model is None:
            errors["model"] = _("No model %(slug)s among the models you read.") % {"slug": slug}
    return days, model, errors


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    if not sel.may_read_overview(request.user):
        if roles.has_role(request.user, roles.REVIEWER):
            # A reviewer's part of review quality is their own scorecard.
            return redirect("quality:my-scorecard")
        raise RoleRequired(roles=OVERVIEW_ROLES)
    days, model, errors = _window(request)
    figures = agreement_sel.agreement_by_model(
        user=request.user, days=days, model_slug=model.slug if model else None
    )
    rows = sel.overview_rows(days=days) if sel.may_read_all_scorecards(request.user) else None
    return render(
        request,
        "quality/overview.html",
        {
            "days": days,
            "chosen_model": model,
            "models": models_visible_to(request.user).order_by("slug"),
            "figures": figures,
            "rows": rows,
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def _automation_bias_html(card: sel.Scorecard) -> str:
    if card.automation_bias is None:
        return ""
    return render_to_string(
        "quality/_automation_bias.html",
        {"figures": card.automation_bias, "automation_bias": card.automation_bias},
    )


def _render_scorecard(request: HttpRequest, reviewer: Any, *, own: bool) -> HttpResponse:
    days, model, errors = _window(request)
    card = sel.scorecard(
        reviewer=reviewer,
        days=days,
        model_id=model.pk if model else None,
        model_slug=model.slug if model else None,
    )
    charts = trend_charts(
        card.weeks,
        {
            "decisions": _("Decisions"),
            "gold": _("Gold accuracy"),
            "seconds": _("Median seconds per item"),
            "overrides": _("Override share"),
        },
    )
    return render(
        request,
        "quality/scorecard.html",
        {
            "card": card,
            "own": own,
            "days": days,
            "chosen_model": model,
            "models": models_visible_to(request.user).filter(slug__in=card.pools)
            if not sel.may_read_all_scorecards(request.user)
            else models_visible_to(request.user).order_by("slug"),
            "charts": charts,
            "automation_bias_html": _automation_bias_html(card),
            "is_lead": sel.may_read_all_scorecards(request.user),
            "errors": errors,
        },
        status=400 if errors else 200,
    )


@login_required
@require_GET
def reviewer_scorecard(request: HttpRequest, user_id: int) -> HttpResponse:
    if user_id > DB_INT_MAX or not sel.may_read_scorecard(request.user, user_id):
        raise Http404(_("No such scorecard."))
    reviewer = get_user_model().objects.filter(pk=user_id).first()
    if reviewer is None:
        raise Http404(_("No such scorecard."))
    return _render_scorecard(request, reviewer, own=reviewer.pk == request.user.pk)


@login_required
@require_GET
def my_scorecard(request: HttpRequest) -> HttpResponse:
    return _render_scorecard(request, request.user, own=True)

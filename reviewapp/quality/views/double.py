"""The adjudication pages (leads): disagreements waiting, and one of them side by side with the
form that settles it. Thin: reads through ``selectors.second_review``, the one write through
``second_review_adjudicate``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from reviewapp.core import clock, roles
from reviewapp.core.exceptions import RoleRequired, ServiceError
from reviewapp.selectors.context import review_context

from ..models import SecondReview
from ..selectors import second_review as sel
from ..services.second_review import adjudicator_conflict, second_review_adjudicate

MAX_ROWS = 200


def _require_lead(request: HttpRequest) -> None:
    if not sel.may_adjudicate(request.user):
        raise RoleRequired(roles=(roles.LEAD,))


@login_required
@require_GET
def adjudications(request: HttpRequest) -> HttpResponse:
    _require_lead(request)
    rows = list(sel.waiting()[:MAX_ROWS])
    recent = list(
        sel.second_reviews(status=SecondReview.Status.ADJUDICATED).order_by("-adjudicated_at")[:10]
    )
    return render(
        request,
        "quality/adjudications.html",
        {"rows": rows, "recent": recent, "now": clock.now(), "max_rows": MAX_ROWS},
    )


def _side(decision: Any, title: str) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {"title": title, "d": decision, "seconds": sel.seconds_taken(decision)}


def _choices(review: SecondReview) -> list[tuple[str, str]]:
    """The model's labels, each with who said it (the model, either reviewer)."""
    said: dict[str, list[str]] = {}
    said.setdefault(review.prediction.label, []).append(_("the model"))
    for decision in (review.first_decision, review.second_decision):
        if decision is not None:
            said.setdefault(decision.final_label, []).append(decision.reviewer.get_username())
    return [(label, ", ".join(said.get(label, []))) for label in review.model.labels or []]


@login_required
@require_http_methods(["GET", "POST"])
def adjudication(request: HttpRequest, review_id: int) -> HttpResponse:
    _require_lead(request)
    review = sel.second_review_get(review_id)
    if review is None:
        raise Http404(_("No such second review."))
    errors: dict[str, list[str]] = {}
    status = 200
    posted: dict[str, Any] = {}
    if request.method == "POST":
        posted = {
            "label": request.POST.get("label", ""),
            "reason": request.POST.get("reason", ""),
            "make_gold": request.POST.get("make_gold") == "on",
        }
        raw_version = request.POST.get("version", "")
        version = int(raw_version) if raw_version.isdigit() else None
        if version is None:
            errors["version"] = [_("The form lost its version; reload the page.")]
            status = 400
        else:
            try:
                second_review_adjudicate(
                    review_id=review.pk, user=request.user, version=version, **posted
                )
            except ServiceError as exc:
                errors, status = exc.errors, exc.status
                review = sel.second_review_get(review_id) or review
            else:
                messages.success(
                    request,
                    _("Adjudicated: %(label)s is the final answer for prediction %(p)s.")
                    % {"label": posted["label"], "p": review.prediction_id},
                )
                return redirect("quality:adjudications")
    routed = review.first_decision.item
    routed.prediction = review.prediction
    routed.model = review.model
    ctx = review_context(routed)
    context = {
        "review": review,
        "item": routed,
        "p": review.prediction,
        "ctx": ctx,
        "is_lead": True,
        "sides": [
            _side(review.first_decision, _("First review")),
            _side(review.second_decision, _("Second review (blind)")),
        ],
        "choices": _choices(review),
        "errors": errors,
        "posted": posted,
        "open": review.status == SecondReview.Status.ADJUDICATING,
        "conflict": adjudicator_conflict(review, request.user),
        "now": clock.now(),
    }
    return render(request, "quality/adjudication.html", context, status=status)

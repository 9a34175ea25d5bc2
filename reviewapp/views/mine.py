"""A reviewer's own pages: find an item from the top bar, and My decisions.

Both read through the visibility selectors: a reviewer finds and lists only their pools'
records (an item outside them is "not found", the same answer as an id that does not exist).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from reviewapp.core import clock, roles
from reviewapp.core.params import PAGE_MAX, ParamError, parse_int
from reviewapp.selectors.blind import shows_prediction_ids
from reviewapp.selectors.find import find_items
from reviewapp.selectors.mine import day_figures, my_decisions
from reviewapp.selectors.queue import page_of
from reviewapp.selectors.visibility import visible_model_ids

from .queue import require_role

MINE_PAGE_SIZE = 25


@login_required
@require_GET
def find(request: HttpRequest) -> HttpResponse:
    """One exact match opens the item; several, or external ids that start with the query,
    are listed; nothing found (or not visible) says so."""
    require_role(request, roles.REVIEWER, roles.LEAD, roles.ENGINEER)
    result = find_items(user=request.user, query=request.GET.get("q"))
    if result.only is not None:
        return redirect("queue:item", result.only.pk)
    status = 400 if result.error else 200 if result.items else 404
    return render(
        request,
        "reviewapp/queue/find.html",
        {
            "result": result,
            "sees_all": visible_model_ids(request.user) is None,
            "show_ids": shows_prediction_ids(request.user),  # blind: leads only
            "now": clock.now(),
            "near_seconds": settings.REVIEW_SLA_NEAR_SECONDS,
        },
        status=status,
    )


@login_required
@require_GET
def my_decisions_page(request: HttpRequest) -> HttpResponse:
    require_role(request, roles.REVIEWER, roles.LEAD)
    error = ""
    try:
        page = parse_int(
            request.GET.get("page"), name="page", minimum=1, maximum=PAGE_MAX, default=1
        )
    except ParamError as exc:
        error, page = " ".join(str(m) for m in exc.errors["page"]), 1
    now = clock.now()
    rows, has_next = page_of(my_decisions(user=request.user), page, MINE_PAGE_SIZE)
    return render(
        request,
        "reviewapp/queue/mine.html",
        {
            "rows": rows,
            "page": page,
            "has_next": has_next,
            "error": error,
            "figures": day_figures(user=request.user, now=now),
            "sees_all": visible_model_ids(request.user) is None,
            "now": now,
        },
        status=400 if error else 200,
    )

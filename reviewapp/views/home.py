from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from reviewapp.core import roles
from reviewapp.models import RejectedEnvelope

# Where each role starts its day, first match wins. Every URL here exists: a missing page is
# an error, never a silent fallback.
LANDING = [
    (roles.REVIEWER, "queue:list"),
    (roles.LEAD, "queue:list"),
    (roles.ENGINEER, "catalog:search"),
    (roles.CATALOG_EDITOR, "catalog:search"),
    (roles.COMMITTEE, "governance:home"),
]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each person to the section they use most."""
    mine = roles.user_roles(request.user)
    for role, url_name in LANDING:
        if role in mine:
            return redirect(url_name)
    return render(request, "reviewapp/home.html")


@login_required
@roles.permission_required("reviewapp.view_rejectedenvelope")
def rejected_envelopes(request: HttpRequest) -> HttpResponse:
    page = Paginator(RejectedEnvelope.objects.all(), 50).get_page(request.GET.get("page"))
    return render(request, "reviewapp/rejected_envelopes.html", {"page": page})

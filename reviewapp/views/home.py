from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from reviewapp.core import roles
from reviewapp.models import RejectedEnvelope


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each person to the section they use most."""
    mine = roles.user_roles(request.user)
    for role, url_name in [
        (roles.REVIEWER, "queue:list"),
        (roles.LEAD, "queue:list"),
        (roles.COMMITTEE, "governance:policies"),
        (roles.ENGINEER, "catalog:search"),
        (roles.CATALOG_EDITOR, "catalog:search"),
    ]:
        if role in mine:
            try:
                return redirect(reverse(url_name))
            except NoReverseMatch:
                continue
    return render(request, "reviewapp/home.html")


@login_required
@permission_required("reviewapp.view_rejectedenvelope", raise_exception=True)
def rejected_envelopes(request: HttpRequest) -> HttpResponse:
    page = Paginator(RejectedEnvelope.objects.all(), 50).get_page(request.GET.get("page"))
    return render(request, "reviewapp/rejected_envelopes.html", {"page": page})

"""The people pages: the leads' open quality alerts and a pool's members (pause, resume,
restart a qualification set), and a model's guideline to acknowledge.

Thin: reads through ``selectors.people``, each write through one service; a service error comes
back as a message that names the field.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reviewapp.core import roles
from reviewapp.core.exceptions import RoleRequired, ServiceError
from reviewapp.core.params import int_or_none
from reviewapp.models import MLModel, PoolMembership

from ..selectors import people as sel
from ..services.alerts import alert_resolve
from ..services.guidelines import current_guideline, guideline_acknowledge
from ..services.pauses import reviewer_pause, reviewer_resume
from ..services.qualification import qualification_restart
from ..settings import quality_settings


def _require_lead(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.LEAD):
        raise RoleRequired(roles=[roles.LEAD])


def _model_or_404(slug: str) -> MLModel:
    model = MLModel.objects.filter(slug=slug).first()
    if model is None:
        raise Http404(_("No such model."))
    return model


def _say_error(request: HttpRequest, exc: ServiceError) -> None:
    if exc.status == 403:
        raise DjangoPermissionDenied(exc.message) from exc
    details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.errors.items())
    messages.error(request, f"{exc.message} {details}".strip())


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


@login_required
@require_GET
def alerts(request: HttpRequest) -> HttpResponse:
    _require_lead(request)
    rows = list(sel.open_alerts()[:200])
    return render(request, "quality/alerts.html", {"alerts": rows})


@login_required
@require_POST
def alert_resolve_view(request: HttpRequest, alert_id: int) -> HttpResponse:
    _require_lead(request)
    try:
        alert = alert_resolve(alert_id=alert_id, note=request.POST.get("note", ""), by=request.user)
    except ServiceError as exc:
        _say_error(request, exc)
    else:
        messages.success(
            request, _("Alert on %(user)s resolved.") % {"user": alert.reviewer.get_username()}
        )
    return redirect("quality:alerts")


@login_required
@require_GET
def pool(request: HttpRequest, model_slug: str) -> HttpResponse:
    _require_lead(request)
    model = _model_or_404(model_slug)
    return render(
        request,
        "quality/pool.html",
        {
            "model": model,
            "members": sel.pool_members(model=model),
            "guideline": current_guideline(model.pk),
            "qualification_size": quality_settings(model.slug)["qualification_size"],
        },
    )


@login_required
@require_POST
def pool_action(request: HttpRequest, model_slug: str) -> HttpResponse:
    """pause (with a reason), resume or restart a member's qualification."""
    _require_lead(request)
    model = _model_or_404(model_slug)
    op = request.POST.get("op", "")
    user_id = int_or_none(request.POST.get("user_id"), minimum=1)
    member = (
        PoolMembership.objects.select_related("user").filter(model=model, user_id=user_id).first()
        if user_id
        else None
    )
    default = reverse("quality:pool", args=[model.slug])
    if member is None:
        messages.error(
            request, _("user_id: this person is not in the %(m)s pool.") % {"m": model.slug}
        )
        return _back(request, default)
    name = member.user.get_username()
    try:
        if op == "pause":
            reviewer_pause(model_id=model.pk, user_id=user_id,
                           reason=request.POST.get("reason", ""), by=request.user)  # fmt: skip
            done = _("%(user)s is paused in %(m)s; any item they held went back to the queue.")
        elif op == "resume":
            reviewer_resume(model_id=model.pk, user_id=user_id, by=request.user)
            done = _("%(user)s takes %(m)s items again.")
        elif op == "restart":
            qualification_restart(model_id=model.pk, user_id=user_id, by=request.user)
            done = _("A fresh qualification set was served to %(user)s for %(m)s.")
        else:
            messages.error(request, _("op: use pause, resume or restart."))
            return _back(request, default)
    except ServiceError as exc:
        _say_error(request, exc)
    else:
        messages.success(request, done % {"user": name, "m": model.slug})
    return _back(request, default)


def _guideline_context(model: MLModel, membership: PoolMembership | None) -> dict[str, Any]:
    return {"model": model, "guideline": current_guideline(model.pk), "membership": membership}


@login_required
@require_http_methods(["GET", "POST"])
def guideline(request: HttpRequest, model_slug: str) -> HttpResponse:
    """The current guideline of a model; a pool member acknowledges it here."""
    model = MLModel.objects.filter(slug=model_slug).first()
    membership = (
        PoolMembership.objects.filter(model=model, user=request.user).first() if model else None
    )
    lead = roles.has_role(request.user, roles.LEAD)
    if model is None or (membership is None and not lead):
        raise Http404(_("No such model among your pools."))
    if request.method == "POST":
        if membership is None:
            messages.error(request, _("Only members of the pool acknowledge its guideline."))
            return redirect("quality:guideline", model_slug=model.slug)
        try:
            membership = guideline_acknowledge(model_id=model.pk, user=request.user)
        except ServiceError as exc:
            _say_error(request, exc)
            return redirect("quality:guideline", model_slug=model.slug)
        messages.success(
            request,
            _("Thank you: %(m)s items are offered to you again (v%(v)s read).")
            % {"m": model.slug, "v": membership.guideline_acked},
        )
        return redirect("queue:list")
    return render(request, "quality/guideline.html", _guideline_context(model, membership))

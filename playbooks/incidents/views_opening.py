"""Opening incidents from other apps' pages and taking command of an unattended one.

The other apps show these through registry hooks (they import nothing from here):
``failsafe.alert_actions`` (an alert's page), ``catalog.entry_actions`` (playbooks/views.py),
``queue.item_actions`` (a review item's page)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from reviewapp.core import roles
from reviewapp.core.exceptions import NotFound, ServiceError
from reviewapp.core.exceptions import PermissionDenied as ServicePermissionDenied

from ..models import Incident
from . import opening, selectors, services
from .views import incident_or_404


@login_required
@require_POST
def incident_open_from_alert(request: HttpRequest, alert_id: int) -> HttpResponse:
    if not selectors.may_open(request.user):
        raise DjangoPermissionDenied(_("Only engineers and leads open incidents."))
    try:
        incident, created = opening.incident_open_from_alert(actor=request.user, alert_id=alert_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except ServicePermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from exc
    except ServiceError as exc:
        flash.error(request, exc.message)
        return redirect("failsafe:alert", alert_id=alert_id)
    if created:
        flash.success(request, _("%s opened. You are its commander.") % incident.reference)
    else:
        flash.info(request, _("%s already covers this alert: here it is.") % incident.reference)
    return redirect(incident)


@login_required
@require_POST
def incident_take_command(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    if not selectors.may_open(request.user):
        raise DjangoPermissionDenied(_("Only engineers and leads command incidents."))
    try:
        services.incident_commander_set(
            incident=incident, actor=request.user, username=request.user.get_username()
        )
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, _("You command %s now.") % incident.reference)
    return redirect(incident)


# -- hooks ----------------------------------------------------------------------------------


def alert_actions(*, request: HttpRequest, alert: Any) -> list[dict[str, Any]]:
    """``failsafe.alert_actions``: the incidents linked to the alert (that the person reads)
    and, when no open one covers it, "Open an incident" (one POST) for engineers and leads."""
    user = request.user
    if not selectors.may_read_any(user):
        return []
    linked = list(
        selectors.incidents_visible_to(user)
        .filter(alert_links__alert_id=alert.pk)
        .order_by("-detected_at", "-id")[:10]
    )
    out: list[dict[str, Any]] = [
        {
            "label": _("Incident %(ref)s: %(status)s, go to it")
            % {"ref": i.reference, "status": i.get_status_display().lower()},
            "url": i.get_absolute_url(),
        }
        for i in linked
    ]
    if not any(i.is_open for i in linked) and selectors.may_open(user):
        out.append({
            "label": _("Open an incident"),
            "url": reverse("incidents:open-from-alert", args=[alert.pk]),
            "method": "post",
            "fields": {},
            "primary": True,
            "note": _("You become its commander; the alert, its model and severity are linked."),
        })  # fmt: skip
    return out


def item_actions(*, item_ids: list[int] | None, user: Any) -> list[dict[str, Any]]:
    """``queue.item_actions``: "Open an incident" from review items (engineers and leads);
    ``item_ids`` None: the bulk bar's link, the selection's ids appended in the browser.
    By role, not ``may_open``'s permission check: the queue pages load the roles already and
    never the permissions (two more queries on the pinned queue list); engineers and leads
    are exactly the roles granted ``run_incident`` (apps.py)."""
    if not roles.has_role(user, roles.ENGINEER, roles.LEAD):
        return []
    query = ",".join(str(i) for i in item_ids or [])
    return [{"label": _("Open an incident"), "url": reverse("incidents:open") + f"?items={query}"}]


def unattended(incident: Incident) -> bool:
    return incident.is_open and incident.commander_id is None


# -- the "needs attention" section ----------------------------------------------------------------


def attention_context(request: HttpRequest, incident: Incident, can_run: bool) -> dict | None:
    """Shown while an open incident has nobody in command ("Take command"), or is detected or
    triaged while every one of its models is contained or halted ("Mark contained")."""
    if not incident.is_open:
        return None
    take = incident.commander_id is None and selectors.may_open(request.user)
    contain = False
    if can_run and incident.status in (Incident.Status.DETECTED, Incident.Status.TRIAGED):
        modes = [
            getattr(getattr(link.model, "mode_row", None), "mode", "normal")
            for link in incident.model_links.select_related("model__mode_row")
        ]
        contain = bool(modes) and all(m in ("contained", "halted") for m in modes)
    if not (take or contain or incident.commander_id is None):
        return None
    return {"take_command": take, "suggest_contain": contain}


def sections() -> list[Any]:
    from .page import Section

    return [
        Section(
            key="attention",
            title=_("Needs attention"),
            template="playbooks/incidents/_attention.html",
            context=attention_context,
        )
    ]

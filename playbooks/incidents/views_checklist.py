"""The incident page's checklist and communications sections, and their forms: record a
step, pin a playbook, record a draft as sent. Each view checks the role, calls one service,
and goes back to its section with a message."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from reviewapp.core.exceptions import PermissionDenied, ServiceError

from ..models import Incident, Playbook
from . import communications, steps
from .page import Section
from .views import back_to, incident_or_404


def checklist_context(request: HttpRequest, incident: Incident, can_run: bool) -> dict[str, Any]:
    found = steps.incident_checklist(incident)
    if found is None:
        proposals = steps.playbook_proposals(incident) if can_run else []
        return {
            "checklist": None,
            "proposals": proposals,
            # Without a proposal: every active playbook, to pick from.
            "active": list(
                Playbook.objects.filter(status=Playbook.Status.ACTIVE)
                .select_related("current")
                .order_by("current__title")
            )
            if can_run and not proposals
            else [],
        }
    current = found.step(found.current) if found.current else None
    last = max((r for s in found.steps for r in s.records), key=lambda r: r.seq, default=None)
    return {
        "checklist": found,
        "current": current,
        "undo": last if incident.is_open and steps.may_undo(request.user, last) else None,
        "can_record": current is not None
        and incident.is_open
        and steps.may_record(request.user, incident, {"role": current.role}),
    }


def communications_context(
    request: HttpRequest, incident: Incident, can_run: bool
) -> dict[str, Any]:
    return {
        "drafts": communications.incident_drafts(incident),
        "can_send": incident.is_open and communications.may_send(request.user, incident),
    }


def page_sections() -> list[Section]:
    return [
        Section("checklist", _("Checklist"), "playbooks/incidents/_checklist.html",
                checklist_context),
        Section("communications", _("Communications"), "playbooks/incidents/_communications.html",
                communications_context),
    ]  # fmt: skip


def _flash_errors(request: HttpRequest, exc: ServiceError) -> None:
    """A refusal of the person is a 403 page; a refusal of the input is said on the page,
    naming the field."""
    if isinstance(exc, PermissionDenied):
        raise DjangoPermissionDenied(exc.message)
    for field, messages in exc.errors.items():
        text = " ".join(str(m) for m in messages)
        flash.error(request, text if field == "detail" else f"{field}: {text}")


@login_required
@require_POST
def incident_step(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    post = request.POST
    # The form sends one box per artifact the step expects: artifact-label-N / artifact-value-N.
    artifacts = [
        {"label": post.get(f"artifact-label-{n}", ""), "value": post.get(f"artifact-value-{n}", "")}
        for n in range(steps.MAX_ARTIFACTS)
        if f"artifact-label-{n}" in post
    ]
    try:
        saved = steps.incident_step_record(
            incident=incident,
            actor=request.user,
            step_key=post.get("step_key", ""),
            outcome=post.get("outcome", ""),
            branch=post.get("branch", ""),
            artifacts=artifacts,
            note=post.get("note", ""),
        )
    except ServiceError as exc:
        _flash_errors(request, exc)
    else:
        flash.success(
            request,
            _("Step recorded: %(key)s (%(outcome)s).")
            % {"key": saved.step_key, "outcome": saved.get_outcome_display().lower()},
        )
    return back_to(incident, "checklist")


@login_required
@require_POST
def incident_pin(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    try:
        row = steps.incident_playbook_pin(
            incident=incident, actor=request.user, playbook_slug=request.POST.get("playbook", "")
        )
    except ServiceError as exc:
        _flash_errors(request, exc)
    else:
        flash.success(request, _("This incident now follows %s.") % row.playbook_version.title)
    return back_to(incident, "checklist")


@login_required
@require_POST
def incident_sent(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    try:
        due = communications.incident_communication_sent(
            incident=incident,
            actor=request.user,
            kind=request.POST.get("kind", ""),
            text=request.POST.get("text", ""),
        )
    except ServiceError as exc:
        _flash_errors(request, exc)
    else:
        flash.success(
            request, _("Recorded as sent. Next update due %s.") % communications.when_in_words(due)
        )
    return back_to(incident, "communications")


@login_required
@require_POST
def incident_step_undo(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    try:
        seq = int(request.POST.get("seq", ""))
    except ValueError:
        flash.error(request, _("seq: Name the record to undo."))
        return back_to(incident, "checklist")
    try:
        steps.incident_step_undo(incident=incident, actor=request.user, seq=seq)
    except ServiceError as exc:
        _flash_errors(request, exc)
    else:
        flash.success(request, _("Undone: the step is to do again."))
    return back_to(incident, "checklist")

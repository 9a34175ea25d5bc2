"""Playbook pages. Each view checks the role, calls one service or selector, and renders."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from catalog import selectors as catalog_selectors
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.params import int_or_none

from . import selectors, services
from .document import PHASES
from .forms import PlaybookForm, StepForm, StepFormSet, place_service_errors
from .incidents.selectors import may_open as may_open_incident
from .models import Playbook

PER_PAGE = 50
ACTION_COPY = {
    "publish": (
        gettext_lazy("Publish"),
        gettext_lazy(
            "On-call engineers will follow it in incidents from now on; every later edit is a "
            "new version they see at once."
        ),
    ),
    "retire": (
        gettext_lazy("Retire"),
        gettext_lazy("It stays readable, but is no longer proposed for incidents."),
    ),
    "reinstate": (gettext_lazy("Reinstate"), gettext_lazy("It becomes active again.")),
}


def _require_reader(request: HttpRequest) -> None:
    if not selectors.may_read(request.user):
        raise DjangoPermissionDenied(_("Playbooks are for people with a role in Failsafe."))


def _require_writer(request: HttpRequest) -> None:
    if not selectors.may_write(request.user):
        raise DjangoPermissionDenied(_("Only engineers and leads write playbooks."))


def _playbook_or_404(slug: str) -> Playbook:
    playbook = selectors.playbook_detail(slug=slug)
    if playbook is None or playbook.current is None:
        raise Http404(_("No playbook “%s”.") % slug)
    return playbook


@login_required
def playbook_list(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    try:
        text = {k: selectors.text_param(request.GET, k) for k in ("q", "failure_mode", "monitor")}
    except ServiceError as exc:
        return HttpResponseBadRequest(exc.message)
    chosen = {
        **text,
        "status": request.GET.get("status", "")
        if request.GET.get("status") in Playbook.Status.values
        else "",
    }
    qs = selectors.playbooks_list(**chosen)
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    titles = {c.slug: c.title for c in catalog_selectors.failure_mode_choices()}
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "playbooks/list.html",
        {
            "page": page,
            "rows": [
                {"p": p, "doc": p.current.document, "modes": [
                    (s, titles.get(s, s)) for s in p.current.document.get("failure_modes", [])
                ]}
                for p in page.object_list
            ],  # fmt: skip
            "chosen": chosen,
            "failure_modes": [(v, titles.get(v, v), n) for v, n in selectors.filter_counts("failure_mode")],
            "monitors": selectors.filter_counts("monitor"),
            "statuses": selectors.status_counts(),
            "query": params.urlencode(),
            "can_write": selectors.may_write(request.user),
            "filtered": any(chosen.values()),
        },
    )  # fmt: skip


@login_required
def playbook_detail(request: HttpRequest, slug: str) -> HttpResponse:
    _require_reader(request)
    playbook = _playbook_or_404(slug)
    number = int_or_none(request.GET.get("version"))
    version = playbook.current
    if number is not None and number != playbook.version:
        version = selectors.playbook_version(playbook, number)
        if version is None:
            raise Http404(_("This playbook has no version %s.") % number)
    doc = version.document
    titles = {c.slug: c for c in catalog_selectors.failure_mode_choices()}
    versions = list(selectors.playbook_versions(playbook))
    return render(
        request,
        "playbooks/detail.html",
        {
            "playbook": playbook,
            "version": version,
            "doc": doc,
            "is_current": version.pk == playbook.current_id,
            "phases": selectors.step_view(doc["steps"]),
            "step_count": len(doc["steps"]),
            "modes": [(s, titles[s].title if s in titles else s) for s in doc["failure_modes"]],
            "severities": list(doc["severities"].items()),
            "templates": selectors.template_previews(doc, f"{doc['title']} v{version.number}"),
            "versions": versions,
            "can_write": selectors.may_write(request.user),
            "can_start_incident": playbook.status == Playbook.Status.ACTIVE
            and may_open_incident(request.user),
            "actions": [
                (event, ACTION_COPY[event][0], ACTION_COPY[event][1])
                for event in services.PLAYBOOK.events_from(playbook.status)
            ]
            if selectors.may_publish(request.user)
            else [],
        },
    )


@login_required
def playbook_diff(request: HttpRequest, slug: str) -> HttpResponse:
    _require_reader(request)
    playbook = _playbook_or_404(slug)
    to_number = int_or_none(request.GET.get("to")) or playbook.version
    from_number = int_or_none(request.GET.get("from"))
    if from_number is None:
        from_number = to_number - 1
    old = selectors.playbook_version(playbook, from_number)
    new = selectors.playbook_version(playbook, to_number)
    if old is None or new is None:
        raise Http404(_("Pick two versions this playbook has (1 to %d).") % playbook.version)
    return render(
        request,
        "playbooks/diff.html",
        {
            "playbook": playbook,
            "old": old,
            "new": new,
            "changes": selectors.version_diff(old.document, new.document),
        },
    )


def _edit(request: HttpRequest, playbook: Playbook | None) -> HttpResponse:
    current = playbook.current.document if playbook else None
    if request.method == "POST":
        form = PlaybookForm(request.POST)
        formset = StepFormSet(request.POST, prefix="steps")
        if form.is_valid() and formset.is_valid():
            step_forms = [
                f for f in formset.forms if not f.cleaned_data.get("DELETE") and not f.is_blank()
            ]
            document = {**form.document_part(), "steps": [f.step() for f in step_forms]}
            try:
                if playbook is None:
                    playbook = services.playbook_create(
                        actor=request.user, document=document, note=form.cleaned_data["note"]
                    )
                    flash.success(request, _("Playbook saved as a draft (version 1)."))
                else:
                    version = services.playbook_revise(
                        playbook=playbook,
                        actor=request.user,
                        document=document,
                        base_version=form.cleaned_data["base_version"] or 0,
                        note=form.cleaned_data["note"],
                    )
                    flash.success(request, _("Saved as version %d.") % version.number)
                return redirect(playbook.get_absolute_url())
            except ServiceError as exc:
                if exc.status == 403:
                    raise DjangoPermissionDenied(exc.message) from None
                place_service_errors(exc, form, formset, step_forms)
        status = 400
    else:
        doc = current or {
            "owner": request.user.get_username(),
            "severities": services.default_severities(),
            "templates": dict(services.DEFAULT_TEMPLATES),
            "steps": [],
        }
        form = PlaybookForm(
            initial=PlaybookForm.initial_from(doc, playbook.version if playbook else None)
        )
        formset = StepFormSet(
            prefix="steps", initial=[StepForm.initial_from(s) for s in doc.get("steps", [])]
        )
        status = 200
    return render(
        request,
        "playbooks/form.html",
        {"form": form, "formset": formset, "playbook": playbook, "phases": PHASES},
        status=status,
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def playbook_create(request: HttpRequest) -> HttpResponse:
    _require_writer(request)
    return _edit(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def playbook_edit(request: HttpRequest, slug: str) -> HttpResponse:
    _require_writer(request)
    return _edit(request, _playbook_or_404(slug))


@login_required
@require_POST
def playbook_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    if not selectors.may_publish(request.user):
        raise DjangoPermissionDenied(_("Only engineers and leads publish or retire playbooks."))
    playbook = _playbook_or_404(slug)
    if action not in services.PLAYBOOK.events:
        raise Http404(_("No such action."))
    try:
        services.playbook_transition(
            playbook=playbook,
            actor=request.user,
            event=action,
            base_version=int_or_none(request.POST.get("base_version")),
        )
        flash.success(request, _("Playbook is now %s.") % playbook.get_status_display().lower())
    except ServiceError as exc:
        flash.error(request, exc.message)
    return redirect(playbook.get_absolute_url())


@login_required
@require_POST
def draft_from_catalog(request: HttpRequest) -> HttpResponse:
    _require_writer(request)
    try:
        playbook = services.playbook_draft_from_catalog(
            actor=request.user,
            failure_mode_slug=request.POST.get("failure_mode", "")[:200],
            mitigation_slug=request.POST.get("mitigation", "")[:200],
        )
    except ServiceError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        if exc.status == 403:
            raise DjangoPermissionDenied(exc.message) from None
        return render(request, "playbooks/draft_failed.html", {"errors": exc.errors}, status=400)
    flash.success(
        request,
        _("Draft playbook made from the catalog. Check each step, add triggers, then publish."),
    )
    return redirect(playbook.get_absolute_url())


def catalog_entry_actions(*, kind: str, slug: str, user: Any) -> list[dict[str, Any]]:
    """Hook ``catalog.entry_actions``: on a failure mode's or mitigation template's page,
    "Playbooks for this" (readers, failure modes only) and "Draft a playbook" (writers: one
    POST)."""
    out: list[dict[str, Any]] = []
    if kind == "failure_mode" and selectors.may_read(user):
        n = selectors.playbooks_list(failure_mode=slug).count()
        out.append({
            "label": _("Playbooks for this (%d)") % n,
            "url": reverse("playbooks:list") + f"?failure_mode={slug}",
        })  # fmt: skip
    if kind == "failure_mode" and may_open_incident(user):
        out.append({
            "label": _("Open an incident"),
            "url": reverse("incidents:open") + f"?failure_mode={slug}",
        })  # fmt: skip
    if kind in ("failure_mode", "mitigation") and selectors.may_write(user):
        out.append({
            "label": _("Draft a playbook from this"),
            "url": reverse("playbooks:draft-from-catalog"),
            "method": "post",
            "fields": {kind: slug},
            "primary": True,
        })  # fmt: skip
    return out

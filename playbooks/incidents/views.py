"""Incident pages: the list, opening one, its page, and the lifecycle, milestone, people and
note forms. Each view checks the role, calls one service or selector, and renders."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from catalog import selectors as catalog_selectors
from reviewapp.core.exceptions import ServiceError
from reviewapp.failsafe.models import Alert
from reviewapp.selectors.visibility import models_visible_to, review_items_visible_to

from ..models import Incident, IncidentMember, IncidentModel, Playbook, PlaybookIndex
from . import forms, page, selectors, services
from .machine import EVENT_LABELS, INCIDENT

PER_PAGE = 50
STATUS_FILTERS = {
    "open": selectors.OPEN_STATUSES,
    "closed": ("closed",),
    "cancelled": ("cancelled",),
}


def _require_reader(request: HttpRequest) -> None:
    if not selectors.may_read_any(request.user):
        raise DjangoPermissionDenied(_("Incidents are for people with a role in Failsafe."))


def incident_or_404(request: HttpRequest, pk: int) -> Incident:
    _require_reader(request)
    incident = selectors.incident_for(request.user, pk)
    if incident is None:
        raise Http404(_("No incident INC-%s.") % pk)
    return incident


def require_runner(request: HttpRequest, incident: Incident) -> None:
    if not selectors.may_run(request.user, incident):
        raise DjangoPermissionDenied(
            _("Only engineers, leads and this incident's commander run it.")
        )


@login_required
def incident_list(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    status = request.GET.get("status", "open")
    status = status if status in (*STATUS_FILTERS, "all") else "open"
    severity = request.GET.get("severity", "")
    severity = severity if severity in services.SEVERITIES else ""
    model = request.GET.get("model", "")
    qs = selectors.incidents_visible_to(request.user)
    if status != "all":
        qs = qs.filter(status__in=STATUS_FILTERS[status])
    if severity:
        qs = qs.filter(severity=severity)
    visible_models = list(models_visible_to(request.user).order_by("slug"))
    if model in {m.slug for m in visible_models}:
        qs = qs.filter(model_links__model__slug=model)
    else:
        model = ""
    qs = qs.select_related("commander").prefetch_related(
        Prefetch("model_links", IncidentModel.objects.select_related("model"))
    )
    page_obj = Paginator(qs.order_by("-detected_at", "-id"), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "playbooks/incidents/list.html",
        {
            "page_obj": page_obj,
            "rows": list(page_obj),
            "chosen": {"status": status, "severity": severity, "model": model},
            "statuses": [
                ("open", _("Open")),
                ("closed", _("Closed")),
                ("cancelled", _("Cancelled")),
                ("all", _("All")),
            ],  # fmt: skip
            "severities": services.SEVERITIES,
            "models": visible_models,
            "can_open": selectors.may_open(request.user),
        },
    )


def _open_choices(request: HttpRequest, failure_modes: list[str]) -> dict[str, Any]:
    """The form's choices: visible models, active playbooks (those for the chosen failure
    modes first) and the catalog's entries."""
    models = [(m.slug, m.name or m.slug) for m in models_visible_to(request.user).order_by("slug")]
    active = list(
        Playbook.objects.filter(status=Playbook.Status.ACTIVE)
        .select_related("current")
        .order_by("slug")
    )
    proposed = set(
        PlaybookIndex.objects.filter(
            kind=PlaybookIndex.Kind.FAILURE_MODE,
            value__in=failure_modes,
            version__in=[p.current_id for p in active],
        ).values_list("version__playbook__slug", flat=True)
    )
    playbooks = sorted(
        ((p.slug, p.current.title + (_(" (for this failure mode)") if p.slug in proposed else ""))
         for p in active),
        key=lambda pair: (pair[0] not in proposed, pair[1]),
    )  # fmt: skip
    fms = [(c.slug, c.title) for c in catalog_selectors.failure_mode_choices()]
    return {"models": models, "playbooks": playbooks, "failure_modes": fms, "proposed": proposed}


def _prefill(request: HttpRequest) -> dict[str, Any]:
    """What the link that led here knows: ?playbook=, ?failure_mode=, ?alert=, ?items=,
    ?model=. Only what the person may see is taken."""
    initial: dict[str, Any] = {"source": Incident.Source.MANUAL, "severity": "S2"}
    get = request.GET
    playbook = Playbook.objects.filter(slug=get.get("playbook", ""), status="active").first()
    if playbook is not None and playbook.current_id:
        initial.update(playbook=playbook.slug, source=Incident.Source.PLAYBOOK)
        initial["failure_modes"] = list(
            PlaybookIndex.objects.filter(
                version_id=playbook.current_id, kind=PlaybookIndex.Kind.FAILURE_MODE
            ).values_list("value", flat=True)
        )
        initial["title"] = playbook.current.title
    fm = get.get("failure_mode", "")
    if fm:
        entry = catalog_selectors.failure_mode_choices()
        match = next((c for c in entry if c.slug == fm), None)
        if match is not None:
            initial.setdefault("failure_modes", [])
            if fm not in initial["failure_modes"]:
                initial["failure_modes"].append(fm)
            initial.setdefault("title", match.title)
            if initial["source"] == Incident.Source.MANUAL:
                initial["source"] = Incident.Source.CATALOG
    visible = models_visible_to(request.user)
    chosen_models: list[str] = []
    alert_id = get.get("alert", "")
    if alert_id.isdigit():
        alert = Alert.objects.filter(pk=int(alert_id), model__in=visible).select_related("model")
        alert = alert.first()
        if alert is not None:
            initial.update(alerts=str(alert.pk), source=Incident.Source.ALERT)
            initial["severity"] = alert.severity if alert.severity in services.SEVERITIES else "S2"
            initial.setdefault(
                "title",
                _("%(model)s: %(monitor)s out of bounds")
                % {"model": alert.model.slug, "monitor": alert.monitor},
            )
            initial["impact_started_at"] = alert.since
            chosen_models.append(alert.model.slug)
    raw_items = get.get("items", "")
    ids = [int(x) for x in raw_items.split(",") if x.strip().isdigit()][: services.MAX_LINKS]
    if ids:
        items = list(
            review_items_visible_to(request.user)
            .filter(pk__in=ids)
            .select_related("model")
            .order_by("pk")
        )
        if items:
            initial.update(
                review_items=",".join(str(i.pk) for i in items), source=Incident.Source.ITEMS
            )
            chosen_models.extend(i.model.slug for i in items)
            initial.setdefault("title", _("Review items that look wrong"))
    model = get.get("model", "")
    if model and visible.filter(slug=model).exists():
        chosen_models.append(model)
    initial["models"] = list(dict.fromkeys(chosen_models))
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def incident_open(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    if not selectors.may_open(request.user):
        raise DjangoPermissionDenied(_("Only engineers and leads open incidents."))
    if request.method == "POST":
        choices = _open_choices(request, request.POST.getlist("failure_modes"))
        form = forms.IncidentOpenForm(
            request.POST,
            models=choices["models"],
            playbooks=choices["playbooks"],
            failure_modes=choices["failure_modes"],
        )
        if form.is_valid():
            data = form.cleaned_data
            try:
                incident = services.incident_open(
                    actor=request.user,
                    title=data["title"],
                    severity=data["severity"],
                    model_slugs=data["models"],
                    summary=data["summary"],
                    playbook_slug=data["playbook"],
                    failure_mode_slugs=data["failure_modes"],
                    alert_ids=data["alerts"],
                    review_item_ids=data["review_items"],
                    impact_started_at=data["impact_started_at"],
                    source=data["source"] or Incident.Source.MANUAL,
                )
            except ServiceError as exc:
                form.add_service_errors(exc)
            else:
                flash.success(request, _("%s opened. You are its commander.") % incident.reference)
                return redirect(incident)
    else:
        initial = _prefill(request)
        choices = _open_choices(request, initial.get("failure_modes", []))
        if not initial.get("playbook") and len(choices["proposed"]) == 1:
            # The one active playbook for the failure mode chosen: follow it unless changed.
            initial["playbook"] = next(iter(choices["proposed"]))
        form = forms.IncidentOpenForm(
            initial=initial,
            models=choices["models"],
            playbooks=choices["playbooks"],
            failure_modes=choices["failure_modes"],
        )
    return render(
        request,
        "playbooks/incidents/new.html",
        {"form": form, "proposed": choices["proposed"]},
        status=400 if request.method == "POST" else 200,
    )


@login_required
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    can_run = selectors.may_run(request.user, incident)
    shown = []
    for section in page.sections():
        context = section.context(request, incident, can_run)
        if context is not None:
            shown.append({"key": section.key, "title": section.title,
                          "template": section.template, "section": context})  # fmt: skip
    members = list(incident.members.select_related("user").order_by("role", "user__username"))
    models = [link.model for link in incident.model_links.select_related("model")]
    failure_modes = [
        link.failure_mode for link in incident.failure_mode_links.select_related("failure_mode")
    ]
    return render(
        request,
        "playbooks/incidents/detail.html",
        {
            "incident": incident,
            "can_run": can_run,
            "events": [(e, EVENT_LABELS[e]) for e in INCIDENT.events_from(incident.status)]
            if can_run
            else [],  # fmt: skip
            "members": members,
            "member_roles": IncidentMember.Role.choices,
            "models": models,
            "failure_modes": failure_modes,
            "alerts": list(
                Alert.objects.filter(pk__in=incident.alert_links.values("alert_id"))
                .select_related("model")
                .order_by("-opened_at")
            ),
            "linked_items": list(
                incident.item_links.filter(kind="linked")
                .select_related("review_item__prediction")
                .order_by("review_item_id")[:50]
            ),
            "times_form": forms.TimesForm(
                initial={
                    "base_version": incident.version,
                    **{
                        f: getattr(incident, f)
                        for f in forms.TimesForm.base_fields
                        if f != "base_version"
                    },
                }  # fmt: skip
            ),
            "note_form": forms.NoteForm(),
            # Notes are the team's: those who run it, and its scribe, liaison and participants.
            "can_note": can_run
            or any(
                m.user_id == request.user.pk and m.role != IncidentMember.Role.OBSERVER
                for m in members
            ),
            "failure_mode_choices": [
                (c.slug, c.title)
                for c in catalog_selectors.failure_mode_choices()
                if c.slug not in {f.slug for f in failure_modes}
            ]
            if can_run and incident.is_open
            else [],
            "sections": shown,
        },
    )


def back_to(incident: Incident, anchor: str = "") -> HttpResponse:
    """Back to the incident's page, at the section ``anchor`` names."""
    return redirect(incident.get_absolute_url() + (f"#{anchor}" if anchor else ""))


@login_required
@require_POST
def incident_transition(request: HttpRequest, pk: int, event: str) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    form = forms.TransitionForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            flash.error(request, f"{field}: {' '.join(errors)}")
        return back_to(incident)
    try:
        services.incident_transition(
            incident=incident,
            event=event,
            actor=request.user,
            base_version=form.cleaned_data["base_version"],
            at=form.cleaned_data["at"],
            reason=form.cleaned_data["reason"],
        )
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        incident.refresh_from_db()
        flash.success(
            request,
            _("%(ref)s is now %(status)s.")
            % {"ref": incident.reference, "status": incident.get_status_display().lower()},
        )
    return back_to(incident)


@login_required
@require_POST
def incident_times(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    form = forms.TimesForm(request.POST)
    if form.is_valid():
        data = dict(form.cleaned_data)
        base = data.pop("base_version")
        try:
            services.incident_edit(incident=incident, actor=request.user, base_version=base, **data)
        except ServiceError as exc:
            form.add_service_errors(exc)
        else:
            flash.success(request, _("Milestones saved."))
            return back_to(incident, "milestones")
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        flash.error(request, f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return back_to(incident, "milestones")


@login_required
@require_POST
def incident_people(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    form = forms.PeopleForm(request.POST)
    if not form.is_valid():
        flash.error(request, _("Name a person and a role."))
        return back_to(incident, "people")
    data = form.cleaned_data
    try:
        if data["action"] == "commander":
            services.incident_commander_set(
                incident=incident, actor=request.user, username=data["username"],
                base_version=data["base_version"],
            )  # fmt: skip
        elif data["action"] == "add":
            services.incident_member_add(
                incident=incident, actor=request.user, username=data["username"], role=data["role"]
            )
        else:
            services.incident_member_remove(
                incident=incident, actor=request.user, username=data["username"], role=data["role"]
            )
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, _("People saved."))
    return back_to(incident, "people")


@login_required
@require_POST
def incident_note(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    form = forms.NoteForm(request.POST)
    if not form.is_valid():
        flash.error(request, _("Write the note first."))
        return back_to(incident, "timeline")
    try:
        services.incident_note_add(
            incident=incident, actor=request.user, body=form.cleaned_data["body"]
        )
    except ServiceError as exc:
        flash.error(request, exc.message)
    return back_to(incident, "timeline")


@login_required
@require_POST
def incident_link_failure_mode(request: HttpRequest, pk: int) -> HttpResponse:
    """Name a failure mode the incident looks like (its post-mortem feeds that entry)."""
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    slug = request.POST.get("failure_mode", "")
    try:
        added = services.incident_link(
            incident=incident, actor=request.user, failure_mode_slugs=[slug] if slug else []
        )
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        if added["failure_modes"]:
            flash.success(request, _("Failure mode linked."))
        else:
            flash.error(request, _("Choose a failure mode from the catalog."))
    return back_to(incident, "models")

"""The post-mortem section of the incident page and its forms, the action items, the owner's
"My actions" page, and the exports (Markdown download and the print page)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalog.models import PendingRevision
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.forms import ServiceErrorsMixin

from ..models import ActionItem, Incident, PostMortem
from . import actions, export, postmortem
from .page import Section
from .views import back_to, incident_or_404, require_runner

LABELS = postmortem.SECTION_LABELS
HELP = {
    "impact": gettext_lazy("Prefilled with the predictions that passed without review."),
    "root_causes": gettext_lazy("Prefilled from the confirmed hypotheses."),
    "detection": gettext_lazy("Prefilled: how it was detected and the time to detect."),
}


class PostMortemForm(ServiceErrorsMixin, forms.Form):
    base_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in postmortem.TEXT_FIELDS:
            self.fields[name] = forms.CharField(
                label=LABELS[name],
                required=False,
                max_length=postmortem.MAX_TEXT,
                help_text=HELP.get(name, ""),
                widget=forms.Textarea(attrs={"rows": 2 if name.startswith(("went", "got")) else 3}),
            )


class ActionItemForm(ServiceErrorsMixin, forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=ActionItem.Kind.choices)
    title = forms.CharField(label=gettext_lazy("What"), max_length=actions.MAX_TITLE)
    owner = forms.CharField(label=gettext_lazy("Owner (username)"), max_length=150)
    due_on = forms.DateField(
        label=gettext_lazy("Due"), widget=forms.DateInput(attrs={"type": "date"})
    )


# -- the section ----------------------------------------------------------------------------


def _section(request: HttpRequest, incident: Incident, can_run: bool) -> dict[str, Any] | None:
    pm = (
        PostMortem.objects.select_related("author", "catalog_failure_mode", "catalog_case_study")
        .filter(incident=incident)
        .first()
    )
    items = list(
        ActionItem.objects.filter(incident=incident)
        .select_related("owner")
        .order_by("due_on", "id")
    )
    today = actions.today()
    pending = None
    if pm is not None and pm.catalog_failure_mode_id:
        pending = PendingRevision.objects.filter(
            failure_mode_id=pm.catalog_failure_mode_id, status="pending"
        ).first()
    return {
        "pm": pm,
        "form": PostMortemForm(
            initial={
                "base_version": pm.version,
                **{f: getattr(pm, f) for f in postmortem.TEXT_FIELDS},
            }
        )
        if pm is not None and can_run
        else None,
        "fields": [(LABELS[f], getattr(pm, f)) for f in postmortem.TEXT_FIELDS] if pm else [],
        "may_start": incident.status in postmortem.STARTABLE,
        "items": [(item, actions.is_overdue(item, on=today)) for item in items],
        "item_form": ActionItemForm(prefix="ai") if can_run else None,
        "needs_publish": incident.severity in postmortem.NEEDS_POSTMORTEM,
        "pending_revision": pending,
    }


def sections() -> list[Section]:
    return [
        Section(
            key="postmortem",
            title=str(gettext_lazy("Post-mortem")),
            template="playbooks/incidents/_postmortem.html",
            context=_section,
        )
    ]


def _postmortem_of(incident: Incident) -> PostMortem:
    pm = PostMortem.objects.filter(incident=incident).select_related("incident").first()
    if pm is None:
        raise Http404(_("This incident has no post-mortem yet."))
    return pm


# -- the post-mortem's forms ----------------------------------------------------------------


@login_required
@require_POST
def postmortem_start(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    try:
        postmortem.postmortem_start(incident=incident, actor=request.user)
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, _("Post-mortem started, prefilled from the incident."))
    return back_to(incident, "postmortem")


@login_required
@require_POST
def postmortem_save(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    pm = _postmortem_of(incident)
    form = PostMortemForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            flash.error(request, f"{LABELS.get(field, field)}: {' '.join(errors)}")
        return back_to(incident, "postmortem")
    data = dict(form.cleaned_data)
    base_version = data.pop("base_version")
    try:
        postmortem.postmortem_save(
            postmortem=pm, actor=request.user, base_version=base_version, **data
        )
        if request.POST.get("action") == "publish":
            pm.refresh_from_db()
            postmortem.postmortem_publish(
                postmortem=pm, actor=request.user, base_version=pm.version
            )
            flash.success(request, _("Post-mortem published."))
        else:
            flash.success(request, _("Post-mortem saved."))
    except ServiceError as exc:
        detail = "; ".join(
            f"{LABELS.get(k, k)}: {' '.join(v)}" for k, v in exc.errors.items() if k in LABELS
        )
        flash.error(request, f"{exc.message} {detail}".strip())
    return back_to(incident, "postmortem")


@login_required
@require_POST
def postmortem_catalog(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    pm = _postmortem_of(incident)
    try:
        postmortem.postmortem_catalog_draft(
            postmortem=pm, actor=request.user, site=request.build_absolute_uri("/")[:-1]
        )
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(
            request,
            _("Catalog update drafted. The entry's steward reviews and publishes it."),
        )
    return back_to(incident, "postmortem")


# -- action items ---------------------------------------------------------------------------


def _item_of(incident: Incident, aid: int) -> ActionItem:
    item = ActionItem.objects.filter(incident=incident, pk=aid).select_related("incident").first()
    if item is None:
        raise Http404(_("No such action item."))
    return item


@login_required
@require_POST
def action_item_add(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    form = ActionItemForm(request.POST, prefix="ai")
    if not form.is_valid():
        for field, errors in form.errors.items():
            flash.error(request, f"{field}: {' '.join(errors)}")
        return back_to(incident, "postmortem")
    try:
        item = actions.action_item_add(incident=incident, actor=request.user, **form.cleaned_data)
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(
            request,
            _("Action item added; %s was told.") % item.owner.get_username(),
        )
    return back_to(incident, "postmortem")


@login_required
@require_POST
def action_item_update(request: HttpRequest, pk: int, aid: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    item = _item_of(incident, aid)
    verb = request.POST.get("action", "")
    try:
        base_version = int(request.POST.get("base_version", ""))
    except ValueError:
        base_version = None
    try:
        if verb in ("done", "cancelled"):
            actions.action_item_close(
                item=item, actor=request.user, status=verb, base_version=base_version
            )
        elif verb == "edit":
            require_runner(request, incident)
            form = ActionItemForm(request.POST, prefix=f"ai{item.pk}")
            if not form.is_valid():
                raise ServiceError(" ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
            actions.action_item_edit(
                item=item, actor=request.user, base_version=base_version, **form.cleaned_data
            )
        else:
            raise ServiceError(_("Unknown action."))
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, _("Action item updated."))
    nxt = request.POST.get("next", "")
    if nxt == "mine":
        return redirect("incidents:my-actions")
    return back_to(incident, "postmortem")


@login_required
def my_actions(request: HttpRequest) -> HttpResponse:
    """The action items the person owns, overdue first (the top bar's "My actions")."""
    today = actions.today()
    items = list(
        ActionItem.objects.filter(owner=request.user, status=ActionItem.Status.OPEN)
        .select_related("incident")
        .order_by("due_on", "id")
    )
    return render(
        request,
        "playbooks/incidents/my_actions.html",
        {"items": [(i, actions.is_overdue(i, on=today)) for i in items], "today": today},
    )


# -- exports --------------------------------------------------------------------------------


@login_required
def incident_export_md(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    text = export.markdown(incident)
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{incident.reference}.md"'
    return response


@login_required
def incident_print(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    return render(request, "playbooks/incidents/print.html", export.context(incident))

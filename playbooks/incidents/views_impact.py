"""The incident page's "Affected predictions" and "Root cause" sections, and their forms:
queue a re-review, take the proposed impact start, add, edit, confirm and refute hypotheses.
Each view checks the role, calls one service, and goes back to its section with a message."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from reviewapp.core.exceptions import ServiceError
from reviewapp.core.forms import NormalizedTextMixin
from reviewapp.selectors.visibility import models_visible_to

from ..models import Hypothesis, Incident
from . import detection, ledger, rca, services
from .page import Section
from .views import back_to, incident_or_404, require_runner

SHOWN_ITEMS = 20


# -- forms (shape only; the services decide) ------------------------------------------------


class RecheckForm(forms.Form):
    mode = forms.ChoiceField(choices=[("sample", "sample"), ("all", "all")])
    size = forms.IntegerField(required=False, min_value=1, max_value=2_147_483_647)


class ImpactStartForm(forms.Form):
    base_version = forms.IntegerField(min_value=0, max_value=2_147_483_647)
    at = forms.CharField(max_length=64)

    def clean_at(self) -> dt.datetime:
        try:
            value = dt.datetime.fromisoformat(self.cleaned_data["at"])
        except ValueError:
            raise forms.ValidationError(_("Not a time.")) from None
        if value.tzinfo is None:
            raise forms.ValidationError(_("Give a time zone."))
        return value


class HypothesisForm(NormalizedTextMixin, forms.Form):
    statement = forms.CharField(label=gettext_lazy("Hypothesis"), max_length=rca.MAX_STATEMENT,
                                widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip
    test = forms.CharField(label=gettext_lazy("Test that checks it"), required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip
    evidence = forms.CharField(label=gettext_lazy("Evidence"), required=False,
                               widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip
    result = forms.CharField(label=gettext_lazy("Result"), required=False,
                             widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip
    confidence = forms.IntegerField(label=gettext_lazy("Confidence (0–100)"), min_value=0,
                                    max_value=100, initial=50)  # fmt: skip


class HypothesisEditForm(HypothesisForm):
    version = forms.IntegerField(min_value=0, max_value=2_147_483_647, widget=forms.HiddenInput)


class HypothesisDecideForm(NormalizedTextMixin, forms.Form):
    version = forms.IntegerField(min_value=0, max_value=2_147_483_647)
    status = forms.ChoiceField(choices=Hypothesis.Status.choices)
    result = forms.CharField(required=False)


# -- the sections ---------------------------------------------------------------------------


def affected_context(request: HttpRequest, incident: Incident, can_run: bool) -> dict[str, Any]:
    summary = ledger.affected_summary(incident)
    biggest = max((r["count"] for r in summary["per_day"]), default=0)
    rows = [
        {**r, "share": round(100 * r["count"] / biggest) if biggest else 0}
        for r in summary["per_day"]
    ]
    items = list(
        ledger.recheck_items(incident)
        .select_related("prediction", "model")
        .order_by("status", "id")[:SHOWN_ITEMS]
    )
    visible = set(models_visible_to(request.user).values_list("pk", flat=True))
    # Roughly what is left to queue (an item queued before the window moved still counts).
    remaining = max(0, summary["total"] - summary["queued"])
    return {
        "summary": summary,
        "rows": rows,
        "examples": ledger.affected_examples(incident, request.user),
        "proposal": detection.impact_start_proposal(incident) if can_run else None,
        "items": [i for i in items if i.model_id in visible],
        "models": [
            link.model
            for link in incident.model_links.select_related("model").order_by("model__slug")
        ],
        "max": int(settings.INCIDENT_RECHECK_MAX),
        "lookback_hours": int(settings.INCIDENT_IMPACT_LOOKBACK_HOURS),
        "remaining": remaining,
        "default_size": max(1, min(50, remaining)),
    }


def root_cause_context(request: HttpRequest, incident: Incident, can_run: bool) -> dict[str, Any]:
    hypotheses = list(rca.hypotheses_of(incident))
    return {
        "hypotheses": [
            {
                "h": h,
                "form": HypothesisEditForm(
                    initial={f: getattr(h, f) for f in (*rca.EDITABLE, "version")},
                    prefix=f"h{h.pk}",
                ),
            }  # fmt: skip
            for h in hypotheses
        ],
        "confirmed": sum(1 for h in hypotheses if h.status == Hypothesis.Status.CONFIRMED),
        "form": HypothesisForm(),
        "reason": incident.no_root_cause_reason,
    }


def sections() -> list[Section]:
    return [
        Section(
            "affected",
            _("Affected predictions"),
            "playbooks/incidents/_affected.html",
            affected_context,
        ),  # fmt: skip
        Section(
            "root-cause",
            _("Root cause"),
            "playbooks/incidents/_root-cause.html",
            root_cause_context,
        ),  # fmt: skip
    ]


# -- the forms' views -----------------------------------------------------------------------


def _errors(request: HttpRequest, form: forms.Form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        flash.error(request, f"{label or field}: {' '.join(errors)}")


@login_required
@require_POST
def recheck_queue(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    form = RecheckForm(request.POST)
    if not form.is_valid():
        _errors(request, form)
        return back_to(incident, "affected")
    try:
        done = ledger.incident_recheck_queue(
            incident=incident,
            actor=request.user,
            mode=form.cleaned_data["mode"],
            size=form.cleaned_data["size"],
        )
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(
            request,
            _("%(q)d queued for re-review, %(l)d already queued by another incident linked; "
              "%(t)d in this incident's re-review.")
            % {"q": done["queued"], "l": done["linked"], "t": done["total"]},
        )  # fmt: skip
    return back_to(incident, "affected")


@login_required
@require_POST
def impact_start_use(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    form = ImpactStartForm(request.POST)
    if not form.is_valid():
        _errors(request, form)
        return back_to(incident, "affected")
    try:
        services.incident_edit(
            incident=incident,
            actor=request.user,
            base_version=form.cleaned_data["base_version"],
            impact_started_at=form.cleaned_data["at"],
        )
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, _("Impact start set from the monitors' data."))
    return back_to(incident, "milestones")


@login_required
@require_POST
def hypothesis_add(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    form = HypothesisForm(request.POST)
    if not form.is_valid():
        _errors(request, form)
        return back_to(incident, "root-cause")
    try:
        rca.hypothesis_add(incident=incident, actor=request.user, **form.cleaned_data)
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, _("Hypothesis added."))
    return back_to(incident, "root-cause")


@login_required
@require_POST
def hypothesis_edit(request: HttpRequest, pk: int, hid: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    form = HypothesisEditForm(request.POST, prefix=f"h{hid}")
    if not form.is_valid():
        _errors(request, form)
        return back_to(incident, f"hypothesis-{hid}")
    data = dict(form.cleaned_data)
    version = data.pop("version")
    try:
        rca.hypothesis_edit(incident=incident, actor=request.user, hypothesis_id=hid,
                            base_version=version, **data)  # fmt: skip
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, _("Hypothesis saved."))
    return back_to(incident, f"hypothesis-{hid}")


@login_required
@require_POST
def hypothesis_decide(request: HttpRequest, pk: int, hid: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    form = HypothesisDecideForm(request.POST)
    if not form.is_valid():
        _errors(request, form)
        return back_to(incident, f"hypothesis-{hid}")
    data = form.cleaned_data
    try:
        h = rca.hypothesis_decide(
            incident=incident, actor=request.user, hypothesis_id=hid,
            base_version=data["version"], status=data["status"],
            result=data["result"] or None,
        )  # fmt: skip
    except ServiceError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, _("Hypothesis %s.") % h.get_status_display().lower())
    return back_to(incident, f"hypothesis-{hid}")

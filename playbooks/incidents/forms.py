"""The incident pages' forms: they check shape and turn local times into aware ones; the
services enforce the rules, and their errors land on the fields they name."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reviewapp.core.forms import NormalizedTextMixin, ServiceErrorsMixin

from ..models import Incident
from .services import MAX_TEXT, MAX_TITLE, SEVERITIES

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
SEVERITY_CHOICES = [(s, s) for s in SEVERITIES]


def when_field(label: str, help_text: str = "", required: bool = False) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=DATETIME_FORMATS,
        help_text=help_text,
    )


def name_the_zone(form: forms.Form) -> None:
    """Every time field says which zone it is read in (the user's)."""
    zone = _("In your time zone (%(zone)s).") % {"zone": timezone.get_current_timezone_name()}
    for field in form.fields.values():
        if isinstance(field, forms.DateTimeField):
            field.help_text = f"{zone} {field.help_text}".strip()


class IncidentOpenForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    title = forms.CharField(label=_("Title"), max_length=MAX_TITLE)
    severity = forms.ChoiceField(label=_("Severity"), choices=SEVERITY_CHOICES, initial="S2")
    models = forms.MultipleChoiceField(
        label=_("Models"), widget=forms.CheckboxSelectMultiple, choices=()
    )
    playbook = forms.ChoiceField(label=_("Playbook to follow"), required=False, choices=())
    failure_modes = forms.MultipleChoiceField(
        label=_("Failure modes"),
        required=False,
        choices=(),
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=_("What it looks like, from the catalog; Ctrl or ⌘ click to choose several."),
    )
    impact_started_at = when_field(
        _("Impact started"),
        _("Leave empty if unknown: the incident page proposes it from the monitors' history."),
    )
    summary = forms.CharField(
        label=_("What is happening"),
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    alerts = forms.CharField(required=False, widget=forms.HiddenInput)
    review_items = forms.CharField(required=False, widget=forms.HiddenInput)
    source = forms.ChoiceField(
        required=False, choices=Incident.Source.choices, widget=forms.HiddenInput
    )

    def __init__(self, *args, models=(), playbooks=(), failure_modes=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["models"].choices = list(models)
        self.fields["playbook"].choices = [("", _("None for now"))] + list(playbooks)
        self.fields["failure_modes"].choices = list(failure_modes)
        name_the_zone(self)

    def _id_list(self, name: str) -> list[int]:
        raw = self.cleaned_data.get(name) or ""
        try:
            return [int(x) for x in raw.split(",") if x.strip()]
        except ValueError as exc:
            raise forms.ValidationError(_("A list of numbers, comma-separated.")) from exc

    def clean_alerts(self) -> list[int]:
        return self._id_list("alerts")

    def clean_review_items(self) -> list[int]:
        return self._id_list("review_items")


class TransitionForm(NormalizedTextMixin, forms.Form):
    base_version = forms.IntegerField(min_value=1)
    at = when_field(_("When"), _("Leave empty for now."))
    reason = forms.CharField(required=False, max_length=MAX_TEXT, widget=forms.Textarea)


class TimesForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    base_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    impact_started_at = when_field(_("Impact started"))
    detected_at = when_field(_("Detected"), required=True)
    triaged_at = when_field(_("Triaged"))
    contained_at = when_field(_("Contained"))
    remediated_at = when_field(_("Remediated (resolution)"))
    verified_at = when_field(_("Verified"))
    closed_at = when_field(_("Closed"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        name_the_zone(self)


class PeopleForm(NormalizedTextMixin, forms.Form):
    action = forms.ChoiceField(choices=[("commander", ""), ("add", ""), ("remove", "")])
    username = forms.CharField(max_length=150)
    role = forms.CharField(required=False, max_length=20)
    base_version = forms.IntegerField(required=False, min_value=1)


class NoteForm(NormalizedTextMixin, forms.Form):
    body = forms.CharField(
        label=_("Note"), max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 2})
    )

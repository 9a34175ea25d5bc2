"""Forms: the label export filters (shared by the API and the page) and callback settings."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from reviewapp.core.forms import NormalizedTextMixin
from reviewapp.core.time import parse_when as core_parse_when
from reviewapp.models import MLModel

from .validators import validate_callback_secret, validate_callback_url

DATE_HELP = _(
    "ISO 8601 date or date-time, e.g. 2026-11-01 or 2026-11-01T12:00:00Z (UTC if no zone)."
)


def parse_when(value: str, *, end_of_day: bool) -> dt.datetime:
    """A date or date-time; a bare date is the start of that day, or of the next (``until``).
    Out of range (a zone offset of a day or more, a year past 9999 in UTC) is not a date."""
    parsed = core_parse_when(value, end_of_day=end_of_day)
    if parsed is None:
        raise forms.ValidationError(
            _(
                "Not a date: %(value)s. Use an ISO 8601 date or date-time, e.g. 2026-11-01 or "
                "2026-11-01T12:00:00Z."
            )
            % {"value": value.strip()},
            code="invalid_date",
        )
    return parsed


class ExportFilterForm(NormalizedTextMixin, forms.Form):
    FORMATS = [("jsonl", "JSON Lines (.jsonl)"), ("csv", "CSV (.csv)")]
    OUTCOMES = [
        ("", _("Accepted, overridden and corrected")),
        ("accepted", _("Accepted")),
        ("overridden", _("Overridden")),
        # An override of a prediction that had passed (a shift sample, an incident recheck).
        ("corrected", _("Corrected")),
    ]

    format = forms.ChoiceField(choices=FORMATS, required=False, label=_("Format"))
    model = forms.CharField(required=False, label=_("Model"))
    since = forms.CharField(required=False, label=_("Decided from"), help_text=DATE_HELP)
    until = forms.CharField(
        required=False,
        label=_("Decided until"),
        help_text=_("Exclusive for a date-time; a bare date includes that whole day."),
    )
    outcome = forms.ChoiceField(choices=OUTCOMES, required=False, label=_("Outcome"))

    def __init__(self, *args, allowed_model_ids: set[int] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.allowed_model_ids = allowed_model_ids

    def clean_format(self) -> str:
        return self.cleaned_data.get("format") or "jsonl"

    def clean_model(self) -> MLModel | None:
        slug = (self.cleaned_data.get("model") or "").strip()
        if not slug:
            return None
        model = MLModel.objects.filter(slug=slug).first()
        if model is None or (
            self.allowed_model_ids is not None and model.pk not in self.allowed_model_ids
        ):
            raise forms.ValidationError(
                _("No model %(slug)s that you may read.") % {"slug": slug}, code="unknown_model"
            )
        return model

    def clean_since(self) -> dt.datetime | None:
        value = self.cleaned_data.get("since")
        return parse_when(value, end_of_day=False) if value else None

    def clean_until(self) -> dt.datetime | None:
        value = self.cleaned_data.get("until")
        return parse_when(value, end_of_day=True) if value else None

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until <= since:
            self.add_error("until", _("Must be later than 'from'."))
        return data


class CallbackSettingsForm(NormalizedTextMixin, forms.Form):
    callback_url = forms.URLField(
        required=False,
        max_length=200,
        assume_scheme="https",
        label=_("Callback URL"),
        validators=[validate_callback_url],
        help_text=_("Where decisions are POSTed. Leave empty: the producer polls the feed."),
    )
    callback_secret = forms.CharField(
        required=False,
        max_length=200,
        label=_("Signing secret"),
        validators=[validate_callback_secret],
        widget=forms.PasswordInput(render_value=False),
        help_text=_("whsec_ followed by base64 of 24-64 random bytes. Leave empty to keep."),
    )
    rotate_secret = forms.BooleanField(
        required=False, label=_("Generate a new secret (the producer must update its copy)")
    )

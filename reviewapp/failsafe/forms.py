"""The fail-safe pages' forms: they check shape; ``services.modes`` enforces the rules and its
errors land on the fields they name (``ServiceErrorsMixin``)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock
from reviewapp.core.forms import NormalizedTextMixin, ServiceErrorsMixin

from .services.modes import MAX_REASON

_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def _review_by_field(help_text: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=_("Review by"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=_DATETIME_FORMATS,
        help_text=help_text,
    )


def _name_the_zone(form: forms.Form) -> None:
    """Say which zone "your time zone" is (the user's, activated by core's middleware)."""
    field = form.fields.get("review_by")
    if field is not None:
        zone = _("In your time zone (%(zone)s).") % {"zone": timezone.get_current_timezone_name()}
        field.help_text = f"{zone} {field.help_text}".strip()


def default_review_by(now: dt.datetime | None = None) -> dt.datetime:
    """Now + FAILSAFE_CONTAINMENT_REVIEW_HOURS, in the user's zone, to the minute."""
    now = now or clock.now()
    when = now + dt.timedelta(hours=settings.FAILSAFE_CONTAINMENT_REVIEW_HOURS)
    return timezone.localtime(when).replace(second=0, microsecond=0)


class SwitchForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    """Contain or halt: a reason (required), a review-by time, for a halt the sample share."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Say why: a reason is required for every switch.")},
        help_text=_("Shown on every page of the model and recorded in its history."),
    )
    review_by = _review_by_field(
        _("Past it, the owner and the leads are reminded until someone extends or lifts it.")
    )
    sample_rate = forms.FloatField(
        label=_("Share still sampled for review"),
        required=False,
        min_value=0,
        max_value=1,
        help_text=_(
            "From 0 to 1: this share of the halted model's predictions is still "
            "queued for review, so evidence keeps coming."
        ),  # fmt: skip
    )

    field_aliases = {"mode": None, "alert": None, "detail": None}

    def __init__(self, *args, halt: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not halt:
            del self.fields["sample_rate"]
        _name_the_zone(self)


class LiftForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    note = forms.CharField(
        label=_("Note"),
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Write a note: why is it safe to lift?")},
        help_text=_("Why the model may decide again: recorded in its history."),
    )

    field_aliases = {"reason": "note", "mode": None, "alert": None, "detail": None}


class ExtendForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    review_by = _review_by_field("")
    note = forms.CharField(
        label=_("Note"),
        max_length=MAX_REASON,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    field_aliases = {"mode": None, "detail": None}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["review_by"].required = True
        self.fields["review_by"].error_messages["required"] = _("Give the new review-by time.")
        _name_the_zone(self)


class OwnersForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    """A model's owners, as a comma list of usernames (``services.owners`` checks each)."""

    owners = forms.CharField(
        label=_("Owners"),
        required=False,
        max_length=2000,
        help_text=_(
            "Usernames, separated by commas (e.g. ana, lee). They are told when this "
            "model's monitors fire and when its mode changes. Empty: no owners."
        ),
    )

    def usernames(self) -> list[str]:
        raw = self.cleaned_data.get("owners") or ""
        return [name.strip() for name in raw.replace("\n", ",").split(",") if name.strip()]

from __future__ import annotations

import zoneinfo

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from reviewapp.core.forms import NormalizedTextMixin, ServiceErrorsMixin


class CodeForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=40,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
        error_messages={"required": _("Enter the code.")},
    )


class PasswordConfirmForm(NormalizedTextMixin, forms.Form):
    """Asked before removing two-factor sign-in or replacing the recovery codes."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": _("Enter your password.")},
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("That is not your password."))
        return password


def _day_choices() -> list[tuple[int, str]]:
    limit = settings.PERSONAL_TOKEN_MAX_DAYS
    days = sorted({d for d in (7, 30, 60, 90) if d <= limit} | {limit})
    return [(d, _("%(days)s days") % {"days": d}) for d in days]


class TokenCreateForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What uses it, for example 'on-call script'."),
        error_messages={"required": _("Give the token a name.")},
    )
    days = forms.TypedChoiceField(
        label=_("Expires after"), coerce=int, choices=_day_choices, initial=30
    )


class TimeZoneForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=())

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [
            (name, name) for name in sorted(zoneinfo.available_timezones())
        ]

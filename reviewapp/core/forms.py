"""Form helpers every app's HTML forms share."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from .exceptions import ServiceError


class ServiceErrorsMixin:
    """Puts a service's errors on the form's fields: the form checks shape, the service
    enforces rules, and its errors show next to the field they name.

    A service names a field by its key (``"title"``), an item of a list (``"links[2]"`` is
    ``links``) or a nested key (``"tags.domain"`` is the form field ``tags_domain``).
    ``field_aliases`` renames a key to a field, or to None for an error above the form; a
    key the form has no field for is shown above the form too. Mix into a ``forms.Form``.
    """

    field_aliases: dict[str, str | None] = {}

    def service_error_field(self, key: str) -> str | None:
        name = re.sub(r"\[\d+\]$", "", key).replace(".", "_")
        target = self.field_aliases.get(name, name)
        return target if target in self.fields else None

    def add_service_errors(self, exc: ServiceError) -> None:
        for key, messages in exc.errors.items():
            target = self.service_error_field(key)
            for message in messages:
                self.add_error(target, message)


class AuditFilterForm(forms.Form):
    """The audit page's filters (GET). Every field is optional; a value that is not valid is
    a 400 naming the field, never an empty page that looks like "nothing happened"."""

    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    actor_type = forms.ChoiceField(label=_("Actor kind"), required=False)
    verb = forms.ChoiceField(label=_("What happened"), required=False)
    target_type = forms.RegexField(
        label=_("Target type"),
        required=False,
        max_length=64,
        regex=r"^[a-z0-9_]+\.[a-z0-9_]+$",
        error_messages={"invalid": _("Write app.model, e.g. reviewapp.reviewitem.")},
    )
    target_id = forms.CharField(label=_("Target id"), required=False, max_length=64)
    since = forms.DateTimeField(label=_("From"), required=False)
    until = forms.DateTimeField(label=_("Until"), required=False)
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)

    def __init__(self, *args, **kwargs) -> None:
        from . import verbs
        from .models import AuditEvent

        super().__init__(*args, **kwargs)
        self.fields["actor_type"].choices = [("", _("Anyone")), *AuditEvent.ActorType.choices]
        current = verbs.all_verbs()
        legacy = sorted(v for v in verbs.legacy_verbs() if v not in current)
        self.fields["verb"].choices = [
            ("", _("Any")),
            *[(verb, f"{label} ({verb})") for verb, label in current.items()],
            *[(verb, f"{verbs.label(verb)} ({verb}, {_('old name')})") for verb in legacy],
        ]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("target_id") and not cleaned.get("target_type"):
            self.add_error("target_type", _("Give the target type with a target id."))
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until <= since:
            self.add_error("until", _("Must be after From."))
        return cleaned

    def verbs(self) -> list[str]:
        from . import verbs

        verb = self.cleaned_data.get("verb")
        return verbs.verbs_for(verb) if verb else []


class NotificationPreferencesForm(ServiceErrorsMixin, forms.Form):
    """Two boxes per registered kind (in-app, email), named ``<kind>:in_app`` and
    ``<kind>:email``; an unchecked box is "off", as HTML sends it."""

    def __init__(self, *args, choices, **kwargs) -> None:
        from .notifications import CHANNELS

        super().__init__(*args, **kwargs)
        self.rows = []
        for choice in choices:
            names = {}
            for channel in CHANNELS:
                name = f"{choice.kind.key}:{channel}"
                self.fields[name] = forms.BooleanField(
                    label=_("In the app") if channel == "in_app" else _("By email"),
                    required=False,
                    initial=getattr(choice, channel),
                )
                names[channel] = name
            self.rows.append(
                {
                    "kind": choice.kind,
                    "in_app": self[names["in_app"]],
                    "email": self[names["email"]],
                }
            )

    def choices(self) -> dict[str, dict[str, bool]]:
        out: dict[str, dict[str, bool]] = {}
        for name, value in self.cleaned_data.items():
            key, channel = name.rsplit(":", 1)
            out.setdefault(key, {})[channel] = bool(value)
        return out

"""Form helpers every app's HTML forms share."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from .exceptions import ServiceError


def normalize_line_endings(value: Any) -> Any:
    """Text with ``\n`` line endings only: a browser sends a textarea's lines as ``\r\n``
    (the HTML standard), an old Mac client ``\r``; stored as given, an untouched field would
    differ from its saved value and show as changed in every diff. Lists and mappings are
    normalised item by item; anything that is not text is returned as it is."""
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value
    if isinstance(value, Mapping):
        return {key: normalize_line_endings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalize_line_endings(item) for item in value]
    return value


class NormalizedTextMixin:
    """Every text input of the form arrives with ``\n`` line endings (see
    ``normalize_line_endings``), before any field cleans it or counts its length. Mix into
    every ``forms.Form``/``forms.ModelForm`` of the project, before the Django base class;
    ``tests/core/test_forms.py`` checks that each one does. Uploaded files are not touched."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound:
            self.data = _normalized_data(self.data)


def _normalized_data(data: Any) -> Any:
    if isinstance(data, QueryDict):
        copy = data.copy()
        for key in copy:
            copy.setlist(key, [normalize_line_endings(v) for v in data.getlist(key)])
        copy._mutable = False
        return copy
    if isinstance(data, Mapping):
        return {key: normalize_line_endings(value) for key, value in data.items()}
    return data


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


class AuditFilterForm(NormalizedTextMixin, forms.Form):
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


class NotificationPreferencesForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
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

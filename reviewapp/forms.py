"""HTML forms of the review queue: they check the shape of a post and hand typed values to
one service; the services decide. Service errors land on the fields through core's mixin."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reviewapp.core.forms import NormalizedTextMixin, ServiceErrorsMixin
from reviewapp.core.params import DB_INT_MAX, int_or_none
from reviewapp.core.time import parse_when
from reviewapp.models import Decision


class GenerationField(forms.Field):
    """The claim generation the page was rendered with (a hidden field).

    Anything but digits is ``missing``: for decide and renew that is -1, a generation no claim
    has, so the service answers that the claim changed (409) as it does for a stale page.
    """

    widget = forms.HiddenInput

    def __init__(self, *, missing: int | None, **kwargs: Any) -> None:
        self.missing = missing
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> int | None:
        number = int_or_none(value, maximum=DB_INT_MAX)
        return self.missing if number is None else number


class OptionalIdField(forms.Field):
    """An optional id: anything but digits is None."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> int | None:
        return int_or_none(value, minimum=1)


class UsernameField(forms.CharField):
    """A person picked by username, cleaned to the user (None: no one by that name)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def clean(self, value: Any) -> Any:
        username = super().clean(value)
        if not username:
            return None
        return get_user_model().objects.filter(username=username).first()


class ListField(forms.Field):
    """Every value posted under the name (a multiple select), blanks dropped."""

    widget = forms.SelectMultiple

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> list[str]:
        return [str(v) for v in (value or []) if str(v).strip()]


def page_errors(form: forms.Form) -> dict[str, list[str]]:
    """The form's errors as the queue templates read them: field name → messages, and the
    errors of no field under ``detail`` (the summary at the top of the page)."""
    return {
        ("detail" if name == NON_FIELD_ERRORS else name): list(messages)
        for name, messages in form.errors.items()
    }


def form_messages(form: forms.Form) -> str:
    """Every error of the form in one line, for a flash message."""
    return "; ".join(m for messages in form.errors.values() for m in messages)


class ClaimForm(NormalizedTextMixin, forms.Form):
    """Renew a claim."""

    generation = GenerationField(missing=-1)


class ReleaseForm(NormalizedTextMixin, forms.Form):
    # No generation (an older page): release whatever claim the user holds.
    generation = GenerationField(missing=None)


class DecideForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    # The page has one text box: the override's reason, or the note of any other action.
    field_aliases = {"note": "reason"}

    action = forms.CharField(required=False)
    label = forms.CharField(required=False, strip=False)
    reason = forms.CharField(required=False, strip=False)
    wake_at = forms.CharField(required=False)
    failure_mode_tags = ListField()
    generation = GenerationField(missing=-1)
    guideline_version = OptionalIdField()
    next = forms.CharField(required=False)

    def clean_wake_at(self) -> dt.datetime | None:
        """Only a deferral wakes; a naive time is in the reviewer's zone."""
        raw = (self.cleaned_data.get("wake_at") or "").strip()
        if not raw or self.data.get("action") != Decision.Action.DEFER:
            return None
        wake_at = parse_when(raw, default_zone=timezone.get_current_timezone())
        if wake_at is None:
            raise ValidationError(_("Not a date and time."))
        return wake_at

    def decide_kwargs(self) -> dict[str, Any]:
        """The cleaned post as ``review_item_decide`` takes it."""
        d = self.cleaned_data
        # A picked label on a masked item ("label") may carry a reason, like an override.
        override = d["action"] in (Decision.Action.OVERRIDE, "label")
        return {
            "action": d["action"],
            "generation": d["generation"],
            "label": d["label"],
            "reason": d["reason"] if override else "",
            "note": d["reason"] if not override else "",
            "wake_at": d["wake_at"],
            "failure_mode_tags": d["failure_mode_tags"],
            "guideline_version_id": d["guideline_version"],
        }


class AssignForm(NormalizedTextMixin, forms.Form):
    assignee = UsernameField()

    def clean_assignee(self) -> Any:
        if self.cleaned_data.get("assignee") is None:
            raise ValidationError(_("Pick a reviewer."))
        return self.cleaned_data["assignee"]


class BulkForm(NormalizedTextMixin, forms.Form):
    ACTIONS = ("assign", "release")

    action = forms.CharField(required=False)
    scope = forms.CharField(required=False)
    query = forms.CharField(required=False)
    items = ListField()
    # Unknown or absent: None, and the service says an assignment needs someone.
    assignee = UsernameField()
    # The number of items the lead confirmed; absent: show the confirmation first.
    confirm = forms.CharField(required=False)

    def clean_action(self) -> str:
        action = self.cleaned_data.get("action") or ""
        if action not in self.ACTIONS:
            raise ValidationError(_("Choose assign or release."))
        return action

    def clean_scope(self) -> str:
        scope = self.cleaned_data.get("scope") or "selected"
        if scope not in ("selected", "filter"):
            raise ValidationError(_("Choose the selected items or everything matching the filter."))
        return scope

    def clean_confirm(self) -> int | None:
        raw = self.cleaned_data.get("confirm")
        if not raw:
            return None
        number = int_or_none(raw)
        if number is None:
            raise ValidationError(_("The confirmed count is a whole number."))
        return number

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("action") == "assign" and data.get("assignee") is None:
            self.add_error("assignee", _("Pick a reviewer."))
        return data

    def clean_items(self) -> list[int]:
        ids = [int_or_none(i, minimum=1) for i in self.cleaned_data["items"]]
        if None in ids:
            raise ValidationError(_("Item ids are whole numbers."))
        return ids


class PoolMemberForm(NormalizedTextMixin, forms.Form):
    op = forms.CharField(required=False)
    user = UsernameField()

    def clean_user(self) -> Any:
        if self.cleaned_data.get("user") is None:
            raise ValidationError(_("Pick a person."))
        return self.cleaned_data["user"]


class GuidelineForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    # The service checks length and emptiness, so its messages are the ones shown.
    body = forms.CharField(required=False, strip=False)
    note = forms.CharField(required=False, strip=False)


class PresentationForm(NormalizedTextMixin, ServiceErrorsMixin, forms.Form):
    """How a model's inputs are presented (reviewapp/presentation.py). The form reads the
    shape; the service validates the declaration and its errors land on these fields, which
    carry the declaration's key names."""

    kind = forms.ChoiceField(
        label=_("Show the inputs as"),
        choices=[
            ("tabular", _("Table ranked by attribution (default)")),
            ("key_value", _("Every field by name (key–value)")),
            ("image", _("An image, with the other fields beside it")),
            ("text", _("A long text with highlighted attributions")),
        ],
    )
    image_source = forms.ChoiceField(
        label=_("Image source"),
        required=False,
        choices=[
            ("bytes", _("Bytes stored with the prediction (base64)")),
            ("url", _("A URL the producer signs")),
        ],
    )
    image_field = forms.CharField(
        label=_("Image field"),
        required=False,
        max_length=100,
        help_text=_("The input field holding the image (base64 or its URL)."),
    )
    allowed_origins = forms.CharField(
        label=_("Allowed image origins"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For images by URL: one origin a line, such as https://pacs.example.org."),
    )
    text_field = forms.CharField(
        label=_("Text field"),
        required=False,
        max_length=100,
        help_text=_("The input field holding the long text."),
    )
    title_field = forms.CharField(
        label=_("Title field"),
        required=False,
        max_length=100,
        help_text=_("Optional: a short field shown above the text (a subject line)."),
    )

    @classmethod
    def initial_from(cls, declaration: dict) -> dict:
        initial = {"kind": "tabular", **(declaration or {})}
        initial["allowed_origins"] = "\n".join(initial.get("allowed_origins") or [])
        return initial

    def declaration(self) -> dict:
        """The declaration this form describes: only the keys its kind takes."""
        data = self.cleaned_data
        kind = data["kind"]
        if kind == "image":
            out = {
                "kind": kind,
                "image_source": data.get("image_source") or "",
                "image_field": (data.get("image_field") or "").strip(),
            }
            # Origins belong to images by URL only; stored bytes come from this site.
            if out["image_source"] == "url":
                lines = (data.get("allowed_origins") or "").splitlines()
                out["allowed_origins"] = [o.strip() for o in lines if o.strip()]
            return out
        if kind == "text":
            out = {"kind": kind, "text_field": (data.get("text_field") or "").strip()}
            if (data.get("title_field") or "").strip():
                out["title_field"] = data["title_field"].strip()
            return out
        return {"kind": kind}

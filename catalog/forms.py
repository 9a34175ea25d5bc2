"""HTML forms: turn form fields into the service's snapshot dict, and service errors back
into field errors. No rules here; the services decide."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from reviewapp.core.forms import NormalizedTextMixin, ServiceErrorsMixin
from reviewapp.core.params import DB_INT_MAX

from .models import (
    SEVERITY_MEANINGS,
    Category,
    FailureMode,
    FailureModeMitigation,
    MitigationTemplate,
    Severity,
    Tag,
)

MD_HELP = _("Markdown: **bold**, lists, `code`, [links](https://…).")
TAG_FIELDS = {f"tags_{dim}": dim for dim in Tag.Dimension.values}


def _split(text: str, sep: str = ",") -> list[str]:
    parts = re.split(r"[\n" + re.escape(sep) + "]", text or "")
    return [p.strip() for p in parts if p.strip()]


def _md(**kwargs: Any) -> forms.CharField:
    return forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text=MD_HELP, **kwargs
    )


def category_choices() -> list[tuple[str, Any]]:
    cats = list(Category.objects.select_related("parent").order_by("position", "name"))
    groups: list[tuple[str, Any]] = [("", "—")]
    for root in (c for c in cats if c.parent_id is None):
        children = [(c.slug, c.name) for c in cats if c.parent_id == root.pk]
        groups.append((root.name, [(root.slug, f"{root.name} (general)"), *children]))
    return groups


class FailureModeForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    field_aliases = {"base_version": None}  # a stale edit is shown above the form

    title = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=200, required=False, help_text=_("Leave empty to derive it from the title.")
    )
    summary = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One paragraph a stressed on-call engineer can read in ten seconds."),
    )
    category = forms.ChoiceField(choices=())
    severity = forms.ChoiceField(choices=Severity.choices)
    frequency = forms.ChoiceField(choices=FailureMode.Frequency.choices)
    maturity = forms.ChoiceField(choices=FailureMode.Maturity.choices)
    cause = _md()
    effect = _md()
    latent_conditions = _md(label=_("Latent conditions"))
    trigger_steps = _md(label=_("Reproducible trigger steps"))
    detection_signals = _md(label=_("Detection signals"))
    signal_keys = forms.CharField(
        required=False,
        label=_("Signal keys"),
        help_text=_(
            "Comma-separated reason codes and feature names the review page matches on, "
            "e.g. drift_signalled, ood_above_limit, amount."
        ),
    )
    business_impact = _md(label=_("Business impact"))
    kpis = forms.CharField(
        required=False, label=_("KPIs affected"), help_text=_("Comma-separated.")
    )
    tags_data_domain = forms.CharField(required=False, label=_("Data domain"))
    tags_model_family = forms.CharField(required=False, label=_("Model family"))
    tags_deployment = forms.CharField(required=False, label=_("Deployment environment"))
    tags_segment = forms.CharField(required=False, label=_("Customer segment"))
    affected_datasets = forms.CharField(required=False, help_text=_("Comma-separated."))
    affected_models = forms.CharField(
        required=False, help_text=_("Model slugs, comma-separated (card-fraud, …).")
    )
    affected_systems = forms.CharField(required=False, help_text=_("Comma-separated."))
    owner = forms.CharField(required=False, help_text=_("Username."))
    steward = forms.CharField(required=False, help_text=_("Username of who keeps it current."))
    review_interval_days = forms.IntegerField(min_value=7, max_value=730, initial=91)
    next_review_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty for today plus the review interval."),
    )
    evidence_links = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line: label | https://…"),
    )
    external_refs = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line: source id, e.g. “AIID 1234”, “ATLAS AML.T0043”."),
    )
    note = forms.CharField(
        required=False, max_length=300, label=_("Change note"), help_text=_("What and why.")
    )
    base_version = forms.IntegerField(
        required=False, min_value=1, max_value=DB_INT_MAX, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices()
        self.fields["severity"].help_text = " ".join(
            f"{k}: {v}" for k, v in SEVERITY_MEANINGS.items()
        )

    @classmethod
    def initial_from(cls, snapshot: dict[str, Any], version: int) -> dict[str, Any]:
        initial = dict(snapshot)
        for key in ("signal_keys", "kpis", "affected_datasets", "affected_models",
                    "affected_systems"):  # fmt: skip
            initial[key] = ", ".join(snapshot.get(key, []))
        for field, dim in TAG_FIELDS.items():
            initial[field] = ", ".join(snapshot.get("tags", {}).get(dim, []))
        initial["evidence_links"] = "\n".join(
            f"{link['label']} | {link['url']}" for link in snapshot.get("evidence_links", [])
        )
        initial["external_refs"] = "\n".join(
            f"{ref['source']} {ref['id']}" for ref in snapshot.get("external_refs", [])
        )
        initial["base_version"] = version
        return initial

    def to_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        data: dict[str, Any] = {
            k: d[k]
            for k in (
                "title",
                "summary",
                "category",
                "severity",
                "frequency",
                "maturity",
                "cause",
                "effect",
                "latent_conditions",
                "trigger_steps",
                "detection_signals",
                "business_impact",
                "owner",
                "steward",
                "review_interval_days",
            )  # fmt: skip
        }
        if d.get("slug"):
            data["slug"] = d["slug"]
        for key in ("signal_keys", "kpis", "affected_datasets", "affected_models",
                    "affected_systems"):  # fmt: skip
            data[key] = _split(d.get(key, ""))
        data["tags"] = {dim: _split(d.get(field, "")) for field, dim in TAG_FIELDS.items()}
        if d.get("next_review_on"):
            data["next_review_on"] = d["next_review_on"].isoformat()
        links = []
        for line in _split(d.get("evidence_links", ""), sep="\n"):
            label, _sep, url = line.rpartition("|")
            links.append({"label": label.strip() or url.strip(), "url": url.strip()})
        data["evidence_links"] = links
        refs = []
        for line in _split(d.get("external_refs", ""), sep="\n"):
            source, _sep, ident = line.partition(" ")
            refs.append({"source": source.strip(), "id": ident.strip()})
        data["external_refs"] = refs
        return data


class LinkMitigationForm(NormalizedTextMixin, forms.Form):
    mitigation = forms.ModelChoiceField(
        queryset=MitigationTemplate.objects.order_by("title"), to_field_name="slug"
    )
    effectiveness = forms.ChoiceField(choices=FailureModeMitigation.Effectiveness.choices)
    note = forms.CharField(required=False, max_length=300)


class MitigationForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    title = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=MitigationTemplate.Kind.choices)
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    detector_signals = _md()
    alert_thresholds = _md()
    procedure_steps = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("The checklist: one step per line."),
    )
    rollback_procedure = _md()
    fallback_plan = _md()
    expected_ttr_minutes = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=DB_INT_MAX,
        label=_("Expected time to remediate (minutes)"),
    )
    trade_offs = _md(label=_("Trade-offs"))
    owner = forms.CharField(required=False, help_text=_("Username."))
    review_interval_days = forms.IntegerField(min_value=7, max_value=730, initial=91)

    @classmethod
    def initial_from(cls, snapshot: dict[str, Any]) -> dict[str, Any]:
        return {**snapshot, "procedure_steps": "\n".join(snapshot.get("procedure_steps", []))}

    def to_data(self) -> dict[str, Any]:
        d = dict(self.cleaned_data)
        d["procedure_steps"] = _split(d.get("procedure_steps", ""), sep="\n")
        return d

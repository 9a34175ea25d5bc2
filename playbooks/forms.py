"""The playbook page's edit form: the playbook's fields and one sub-form per step.

The forms check shape and turn text areas into the document's lists; the service
(``services.playbook_validate``) enforces every rule, and its errors land on the field and
the step they name (``steps[2].condition`` → the third step's condition box).
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog import selectors as catalog_selectors
from reviewapp.core.exceptions import ServiceError

from . import document as doc_rules
from . import messages


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class PlaybookForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    summary = forms.CharField(
        label=_("Summary"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    owner = forms.CharField(
        label=_("Owner"), max_length=150, help_text=_("Username of an engineer or lead.")
    )
    failure_modes = forms.MultipleChoiceField(
        label=_("Failure modes it handles"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("Catalog entries; hold Ctrl or ⌘ to pick several."),
    )
    triggers = forms.CharField(
        label=_("Trigger signals"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line: a monitor name, optionally followed by spike or shift "
                    "(e.g. “data-anomalies shift”)."),
    )  # fmt: skip
    severity_S1 = forms.CharField(label="S1", widget=forms.Textarea(attrs={"rows": 2}))
    severity_S2 = forms.CharField(label="S2", widget=forms.Textarea(attrs={"rows": 2}))
    severity_S3 = forms.CharField(label="S3", widget=forms.Textarea(attrs={"rows": 2}))
    severity_S4 = forms.CharField(label="S4", widget=forms.Textarea(attrs={"rows": 2}))
    template_status_update = forms.CharField(
        label=messages.KINDS["status_update"], widget=forms.Textarea(attrs={"rows": 5})
    )
    template_stakeholder_notice = forms.CharField(
        label=messages.KINDS["stakeholder_notice"], widget=forms.Textarea(attrs={"rows": 5})
    )
    template_resolution_notice = forms.CharField(
        label=messages.KINDS["resolution_notice"], widget=forms.Textarea(attrs={"rows": 5})
    )
    note = forms.CharField(
        label=_("What changed (for the history)"), required=False, max_length=300
    )
    base_version = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["failure_modes"].choices = [
            (c.slug, f"{c.title} ({c.severity})") for c in catalog_selectors.failure_mode_choices()
        ]

    def document_part(self) -> dict[str, Any]:
        data = self.cleaned_data
        triggers = []
        for line in _lines(data.get("triggers", "")):
            monitor, _sep, kind = line.partition(" ")
            triggers.append({"monitor": monitor.strip(), "kind": kind.strip() or "any"})
        return {
            "title": data["title"],
            "summary": data.get("summary", ""),
            "owner": data["owner"],
            "failure_modes": list(data.get("failure_modes") or []),
            "triggers": triggers,
            "severities": {s: data.get(f"severity_{s}", "") for s in doc_rules.SEVERITIES},
            "templates": {k: data.get(f"template_{k}", "") for k in messages.KINDS},
        }

    @staticmethod
    def initial_from(document: dict[str, Any], base_version: int | None) -> dict[str, Any]:
        return {
            "title": document.get("title", ""),
            "summary": document.get("summary", ""),
            "owner": document.get("owner", ""),
            "failure_modes": document.get("failure_modes", []),
            "triggers": "\n".join(
                t["monitor"] + ("" if t.get("kind", "any") == "any" else f" {t['kind']}")
                for t in document.get("triggers", [])
            ),
            **{f"severity_{s}": document.get("severities", {}).get(s, "") for s in doc_rules.SEVERITIES},
            **{f"template_{k}": document.get("templates", {}).get(k, "") for k in messages.KINDS},
            "base_version": base_version,
        }  # fmt: skip


class StepForm(forms.Form):
    key = forms.CharField(
        label=_("Key"), required=False, max_length=40,
        help_text=_("Short name branches point to, e.g. “check-input”."),
    )  # fmt: skip
    phase = forms.ChoiceField(
        label=_("Phase"), choices=[(p, doc_rules.PHASE_LABELS[p]) for p in doc_rules.PHASES]
    )
    title = forms.CharField(label=_("Step"), required=False, max_length=200)
    role = forms.ChoiceField(label=_("Who"), choices=list(doc_rules.STEP_ROLES.items()))
    kind = forms.ChoiceField(label=_("Kind"), choices=list(doc_rules.STEP_KINDS.items()))
    instructions = forms.CharField(
        label=_("Instructions (Markdown)"), required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )  # fmt: skip
    condition = forms.CharField(
        label=_("Runs only when"), required=False, max_length=300,
        help_text=_("Optional, e.g. “severity >= S2 and model.criticality == critical”."),
    )  # fmt: skip
    artifacts = forms.CharField(
        label=_("Expected artifacts"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line: link, file, query or number, a colon, what it is."),
    )  # fmt: skip
    branches = forms.CharField(
        label=_("Branches (decision point)"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line: label -> step key, e.g. “data problem -> fix-pipeline”."),
    )  # fmt: skip
    next = forms.CharField(
        label=_("Then go to (step key)"), required=False, max_length=40,
        help_text=_("Optional: where this step leads when done, e.g. to rejoin after a branch."),
    )  # fmt: skip
    escalate_to = forms.ChoiceField(
        label=_("Escalate to (escalation point)"), required=False,
        choices=[("", "—"), *[(r, doc_rules.STEP_ROLES[r]) for r in doc_rules.ESCALATE_TO]],
    )  # fmt: skip

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return not (data.get("title") or data.get("instructions") or data.get("key"))

    def step(self) -> dict[str, Any]:
        data = self.cleaned_data
        artifacts = []
        for line in _lines(data.get("artifacts", "")):
            kind, _sep, label = line.partition(":")
            artifacts.append({"kind": kind.strip().lower(), "label": label.strip()})
        branches = []
        for line in _lines(data.get("branches", "")):
            parts = re.split(r"\s*(?:->|→)\s*", line, maxsplit=1)
            label, target = (parts[0], parts[1]) if len(parts) == 2 else (line, "")
            branches.append({"label": label.strip(), "target": target.strip()})
        return {
            "key": data.get("key") or "",
            "phase": data["phase"],
            "title": data.get("title", ""),
            "instructions": data.get("instructions", ""),
            "role": data["role"],
            "kind": data["kind"],
            "condition": data.get("condition", ""),
            "artifacts": artifacts,
            "branches": branches,
            "escalate_to": data.get("escalate_to", ""),
            "next": data.get("next", ""),
        }

    @staticmethod
    def initial_from(step: dict[str, Any]) -> dict[str, Any]:
        return {
            **{k: step.get(k, "") for k in ("key", "phase", "title", "role", "kind",
                                               "instructions", "condition", "escalate_to", "next")},
            "artifacts": "\n".join(f"{a['kind']}: {a['label']}" for a in step.get("artifacts", [])),
            "branches": "\n".join(f"{b['label']} -> {b['target']}" for b in step.get("branches", [])),
        }  # fmt: skip


StepFormSet = forms.formset_factory(StepForm, extra=2, can_delete=True, max_num=60)

_STEP_PATH = re.compile(r"^steps\[(\d+)\](?:\.([a-z_]+))?")


def place_service_errors(
    exc: ServiceError, form: PlaybookForm, formset: Any, step_forms: list[StepForm]
) -> None:
    """Each of the service's errors beside the field it names: ``steps[i].x`` on the i-th
    submitted (non-blank) step; ``triggers[2].monitor`` on triggers; ``severities.S1`` on
    severity_S1; ``templates.status_update`` on template_status_update."""
    for path, msgs in exc.errors.items():
        for message in msgs:
            m = _STEP_PATH.match(path)
            if m:
                index, field = int(m.group(1)), m.group(2)
                if index < len(step_forms):
                    target = step_forms[index]
                    target.add_error(field if field in target.fields else None, message)
                    continue
                form.add_error(None, f"{path}: {message}")
                continue
            head = re.sub(r"\[\d+\].*$", "", path)
            name = {
                "severities": f"severity_{path.split('.', 1)[-1]}",
                "templates": f"template_{path.split('.', 1)[-1]}",
            }.get(head.split(".")[0], head)
            # base_version is hidden: a stale edit's reason stands above the form.
            visible = name in form.fields and name != "base_version"
            form.add_error(name if visible else None, message)

"""Forms of the change-request pages. They check shape; the services enforce the rules and
their errors land on the field (or the rule row) they name."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reviewapp.core import registry
from reviewapp.core.forms import NormalizedTextMixin, ServiceErrorsMixin

from .conditions import CONDITION_OPS
from .models import DocumentKind
from .monitors import ACTIONS, SEVERITIES
from .monitors import OPS as MONITOR_OPS
from .review_quality import DEFAULTS as REVIEW_QUALITY_DEFAULTS
from .review_quality import HELP as REVIEW_QUALITY_HELP
from .review_quality import LABELS as REVIEW_QUALITY_LABELS
from .rules import ESCALATION_DEFAULTS, SCHEMAS, TIERS
from .selectors import metric_labels
from .services.common import MAX_SHADOW_MINUTES, METRIC_NAMES_HOOK, TRIGGER_OPS
from .services.documents import OPTIONAL_SETTINGS_KEYS, REGULATORY_CLASSES, SETTINGS_KEYS

TRIGGER_ROWS = 3
ROW_PREFIX = "rule:"
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


# --- rule paths (``segments[0].conditions[1].value``) ---------------------------------------
def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{path: leaf} of a document: objects by key, lists of objects by index; a list of plain
    values (a condition's ``in`` list) and an empty object or list are one leaf each."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def _tokens(path: str) -> list[str | int]:
    return [key if key else int(index) for key, index in _TOKEN.findall(path)]


def set_path(document: dict[str, Any], path: str, value: Any) -> None:
    tokens = _tokens(path)
    node: Any = document
    for token, following in zip(tokens, tokens[1:], strict=False):
        child = node[token] if _has(node, token) else None
        if child is None:
            child = [] if isinstance(following, int) else {}
            if isinstance(node, list):
                node.append(child)
            else:
                node[token] = child
        node = child
    last = tokens[-1]
    if isinstance(node, list):
        node[last] = value
    else:
        node[last] = value


def del_path(document: dict[str, Any], path: str) -> None:
    tokens = _tokens(path)
    node: Any = document
    for token in tokens[:-1]:
        if not _has(node, token):
            return
        node = node[token]
    if isinstance(node, dict):
        node.pop(tokens[-1], None)


def _has(node: Any, token: str | int) -> bool:
    if isinstance(node, list):
        return isinstance(token, int) and token < len(node)
    return isinstance(node, dict) and token in node


def _text(value: Any) -> str:
    """How a value shows in its input: strings as they are, the rest as JSON."""
    if value is _ABSENT:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_ABSENT: Any = object()


def optional_paths(kind: str, labels: list[str], document: Any = None) -> list[str]:
    """Rules a proposer may set although the active version leaves them out: the policy's,
    and each segment's own threshold, QA rate and tier (segments of ``document``); the model
    settings' optional ones (strict output)."""
    if kind == DocumentKind.MODEL_SETTINGS:
        return list(OPTIONAL_SETTINGS_KEYS)
    if kind != DocumentKind.ROUTING_POLICY:
        return []
    segments = document.get("segments") if isinstance(document, dict) else None
    count = len(segments) if isinstance(segments, list) else 0
    return [
        *(f"min_confidence_by_label.{label}" for label in labels),
        "max_ood_score",
        "route_on_drift",
        "qa_sample_rate",
        *(f"sla_minutes.{tier}" for tier in TIERS),
        "max_auto_error_rate",
        *(f"escalation.{key}" for key in ESCALATION_DEFAULTS),
        *(
            f"segments[{i}].{key}"
            for i in range(count)
            for key in ("min_confidence", "qa_sample_rate", "tier")
        ),
    ]


# ``fn(model_slug=) -> list of monitors``: what a model's first monitors version starts from
# (the fail-safe app registers its documented defaults).
MONITORS_DEFAULT_HOOK = "governance.monitors_defaults"


def first_version_start(kind: str, info: dict[str, Any]) -> dict[str, Any]:
    """What the form of a model's first version starts from: only facts, no invented
    thresholds. A routing policy is written in the current schema (2); model settings start
    from the model's criticality as registered. The other required rules are empty rows the
    proposer fills (:func:`required_paths`); the validator names any left out."""
    if kind == DocumentKind.MODEL_SETTINGS:
        return {"criticality": info["criticality"]} if info.get("criticality") in TIERS else {}
    if kind == DocumentKind.MONITORS:
        for found in registry.run_hooks(MONITORS_DEFAULT_HOOK, model_slug=info.get("slug", "")):
            return {"monitors": list(found)}
        return {"monitors": []}
    if kind == DocumentKind.REVIEW_QUALITY:
        return dict(REVIEW_QUALITY_DEFAULTS)
    return {"schema": max(SCHEMAS)}


def required_paths(kind: str) -> list[str]:
    """Rows a first version shows although nothing sets them yet (the optional rules are
    :func:`optional_paths`)."""
    if kind == DocumentKind.MODEL_SETTINGS:
        return list(SETTINGS_KEYS)
    if kind == DocumentKind.MONITORS:
        return []
    if kind == DocumentKind.REVIEW_QUALITY:
        return list(REVIEW_QUALITY_DEFAULTS)
    return [
        "min_confidence",
        "fallback.label",
        "fallback.action",
        *(f"sla_minutes.{tier}" for tier in TIERS),
        "max_auto_error_rate",
    ]


# How a rule's input is read: "json" (a number, true/false, null, a list), "text" (kept as
# typed), "bool" (a true/false select), "choice" (a select of the values the validator
# allows; ``text`` says whether they are strings or JSON numbers).
_TEXT_PATHS = re.compile(r"^fallback\.|\.name$|\.field$")
_SEGMENT_TIER = re.compile(r"^segments\[\d+\]\.tier$")
_CONDITION_OP = re.compile(r"^segments\[\d+\]\.conditions\[\d+\]\.op$")


_MONITOR_CHOICES = {"op": MONITOR_OPS, "severity": SEVERITIES, "action": ACTIONS}


@dataclass(frozen=True)
class RowSpec:
    kind: str  # json, text, bool, choice
    options: tuple[Any, ...] = ()
    text: bool = False


def row_spec(kind: str, path: str) -> RowSpec:
    if kind == DocumentKind.MODEL_SETTINGS:
        if path == "criticality":
            return RowSpec("choice", TIERS, text=True)
        if path == "regulatory_class":
            return RowSpec("choice", REGULATORY_CLASSES, text=True)
        if path == "strict_output":
            return RowSpec("bool")
        # payload_retention_days: a number of days, empty for forever.
        return RowSpec("json")
    if kind == DocumentKind.REVIEW_QUALITY:
        return RowSpec("bool") if path == "guideline_ack_required" else RowSpec("json")
    if kind == DocumentKind.MONITORS:
        key = path.rpartition(".")[2]
        if key in _MONITOR_CHOICES:
            return RowSpec("choice", _MONITOR_CHOICES[key], text=True)
        if key in ("name", "metric", "description"):
            return RowSpec("text")
        return RowSpec("json")
    if path == "route_on_drift":
        return RowSpec("bool")
    if path == "schema":
        return RowSpec("choice", SCHEMAS)
    if _SEGMENT_TIER.match(path):
        return RowSpec("choice", TIERS, text=True)
    if _CONDITION_OP.match(path):
        return RowSpec("choice", CONDITION_OPS, text=True)
    if _TEXT_PATHS.search(path):
        return RowSpec("text")
    return RowSpec("json")


def _row_field(spec: RowSpec, path: str, start: Any) -> forms.Field:
    """A select for booleans and enumerations (plus "not set", and the start value when it is
    outside the allowed ones, so nothing is lost silently), else a text input. Always a
    CharField: the services validate the value and name the rule's path."""
    initial = _text(start)
    if spec.kind == "bool":
        options = [("true", _("true")), ("false", _("false"))]
    elif spec.kind == "choice":
        options = [(_text(v), _text(v)) for v in spec.options]
    else:
        return forms.CharField(label=path, required=False, max_length=20_000, initial=initial)
    if initial and initial not in {value for value, _label in options}:
        options.append((initial, initial))
    choices = [("", _("— not set")), *options]
    return forms.CharField(
        label=path, required=False, max_length=20_000, initial=initial,
        widget=forms.Select(choices=choices),
    )  # fmt: skip


@dataclass(frozen=True)
class RuleRow:
    path: str
    current: Any  # _ABSENT when the active version does not set it
    field: forms.BoundField
    # What a first version must set (the validator says so too): "" (nothing), "required",
    # or "one of" (the fallback: a label, an action, or both).
    required: str = ""
    # labels: the rule in words and what it does (review-quality settings; empty elsewhere).
    label: str = ""
    help: str = ""

    @property
    def current_text(self) -> str:
        return _text(self.current)

    @property
    def is_set(self) -> bool:
        return self.current is not _ABSENT

    @property
    def changed(self) -> bool:
        return self.field.value() != self.current_text


# --- the proposal form ------------------------------------------------------------------------
class ChangeRequestForm(ServiceErrorsMixin, NormalizedTextMixin, forms.Form):
    """Every rule of the active version beside the value proposed, a JSON view of the whole
    document (it wins when changed), rationale, schedule, rollback triggers, shadow period.

    ``active``: the active version's document (None: the model's first version);
    ``proposed``: what the inputs start from (the active document, or the request's)."""

    rationale = forms.CharField(
        label=_("Rationale"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=10_000,
        help_text=_("Why this change is needed, and what you expect it to do."),
    )
    document_json = forms.CharField(
        label=_("The whole document as JSON"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "mono"}),
        help_text=_("Edit either the table or this JSON; when you change the JSON, it wins."),
    )
    document_json_initial = forms.CharField(required=False, widget=forms.HiddenInput)
    scheduled_for = forms.DateTimeField(
        label=_("Apply at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        help_text=_("In your time zone. Empty: applied as soon as the quorum approves."),
    )
    shadow_minutes = forms.IntegerField(
        label=_("Shadow period (minutes)"),
        required=False,
        min_value=1,
        max_value=MAX_SHADOW_MINUTES,
        help_text=_("Optional: run beside the active version this long before applying."),
    )

    field_aliases = {"rules": "document_json", "": "document_json"}

    def __init__(
        self,
        *args: Any,
        kind: str,
        active: dict[str, Any] | None,
        proposed: dict[str, Any],
        labels: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Name the zone "your time zone" is (the user's, activated by core's middleware).
        self.fields["scheduled_for"].help_text = _(
            "In your time zone (%(zone)s). Empty: applied as soon as the quorum approves."
        ) % {"zone": timezone.get_current_timezone_name()}
        self.kind = kind
        self.active = active or {}
        self.proposed = proposed
        self.first_version = active is None
        if kind != DocumentKind.ROUTING_POLICY:
            # Only a routing policy runs in shadow (the service refuses one elsewhere).
            del self.fields["shadow_minutes"]
        current = flatten(self.active) if self.active else {}
        wanted = flatten(proposed) if proposed else {}
        first = required_paths(kind) if self.first_version else []
        paths = list(
            dict.fromkeys([*current, *wanted, *first, *optional_paths(kind, labels, proposed)])
        )
        self.row_paths = [p for p in paths if p]
        self.specs = {path: row_spec(kind, path) for path in self.row_paths}
        for path in self.row_paths:
            self.fields[ROW_PREFIX + path] = _row_field(
                self.specs[path], path, wanted.get(path, _ABSENT)
            )
        self.currents = {path: current.get(path, _ABSENT) for path in self.row_paths}
        self.starts = {path: wanted.get(path, _ABSENT) for path in self.row_paths}
        text = json.dumps(proposed, indent=2, ensure_ascii=False) if proposed else "{}"
        self.fields["document_json"].initial = text
        self.fields["document_json_initial"].initial = text
        metrics = sorted({n for names in registry.run_hooks(METRIC_NAMES_HOOK) for n in names})
        labels_of = metric_labels()
        for i in range(TRIGGER_ROWS):
            self.fields[f"trigger_{i}_metric"] = forms.ChoiceField(
                label=_("Metric"),
                required=False,
                choices=[("", "—"), *((m, labels_of.get(m) or m) for m in metrics)],
            )
            self.fields[f"trigger_{i}_op"] = forms.ChoiceField(
                label=_("Comparison"),
                required=False,
                choices=[(op, _("above") if op == ">" else _("below")) for op in TRIGGER_OPS],
            )
            self.fields[f"trigger_{i}_bound"] = forms.FloatField(label=_("Bound"), required=False)
            self.fields[f"trigger_{i}_duration_minutes"] = forms.IntegerField(
                label=_("For (minutes)"), required=False, min_value=1, max_value=1440
            )

    @classmethod
    def initial_from(cls, cr: Any) -> dict[str, Any]:
        """The inputs of an existing request (its schedule is shown in the user's zone)."""
        initial: dict[str, Any] = {
            "rationale": cr.rationale,
            "scheduled_for": cr.scheduled_for,
            "shadow_minutes": cr.shadow_minutes,
        }
        for i, trigger in enumerate((cr.rollback_triggers or [])[:TRIGGER_ROWS]):
            for key in ("metric", "op", "bound", "duration_minutes"):
                initial[f"trigger_{i}_{key}"] = trigger.get(key)
        return initial

    # --- presentation
    def rule_rows(self) -> list[RuleRow]:
        required = set(required_paths(self.kind)) if self.first_version else set()
        if self.kind == DocumentKind.REVIEW_QUALITY:
            # labels: every setting has a default (listed, not required).
            required = set()
        return [
            RuleRow(
                path=p,
                current=self.currents[p],
                field=self[ROW_PREFIX + p],
                required=("one of" if p.startswith("fallback.") else "required")
                if p in required
                else "",
                **self._row_words(p),
            )  # fmt: skip
            for p in self.row_paths
        ]

    def _row_words(self, path: str) -> dict[str, str]:
        """labels: a review-quality setting's name and help beside its key (other kinds'
        rows are unchanged)."""
        if self.kind != DocumentKind.REVIEW_QUALITY or path not in REVIEW_QUALITY_LABELS:
            return {}
        return {
            "label": str(REVIEW_QUALITY_LABELS[path]),
            "help": str(REVIEW_QUALITY_HELP.get(path, "")),
        }

    def trigger_rows(self) -> list[list[forms.BoundField]]:
        keys = ("metric", "op", "bound", "duration_minutes")
        return [[self[f"trigger_{i}_{key}"] for key in keys] for i in range(TRIGGER_ROWS)]

    # --- errors from the services on the right input
    def service_error_field(self, key: str) -> str | None:
        if key.startswith("rules."):
            path = key[len("rules.") :]
            if not self._json_changed():
                if ROW_PREFIX + path in self.fields:
                    return ROW_PREFIX + path
                # A required object left empty (``fallback``): its first row.
                for row in self.row_paths:
                    if row.startswith(path + ".") or row.startswith(path + "["):
                        return ROW_PREFIX + row
            return "document_json"
        match = re.match(r"^rollback_triggers\[(\d+)\]\.(\w+)$", key)
        if match and f"trigger_{match[1]}_{match[2]}" in self.fields:
            return f"trigger_{match[1]}_{match[2]}"
        if key == "rollback_triggers":
            return None
        return super().service_error_field(key)

    def add_service_errors(self, exc: Any) -> None:
        # The path goes with the message, so it reads right above the form as well.
        for key, messages in exc.errors.items():
            target = self.service_error_field(key)
            for message in messages:
                shown = f"{key}: {message}" if key.startswith("rules") else message
                self.add_error(target, shown)

    # --- cleaning
    def _json_changed(self) -> bool:
        if not self.is_bound:
            return False
        posted = self.data.get("document_json", "")
        start = self.data.get("document_json_initial", "")
        try:
            return json.loads(posted or "null") != json.loads(start or "null")
        except ValueError:
            return True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned["document"] = self._document()
        triggers = []
        for i in range(TRIGGER_ROWS):
            metric = cleaned.get(f"trigger_{i}_metric")
            if not metric:
                continue
            triggers.append(
                {
                    "metric": metric,
                    "op": cleaned.get(f"trigger_{i}_op") or ">",
                    "bound": cleaned.get(f"trigger_{i}_bound"),
                    "duration_minutes": cleaned.get(f"trigger_{i}_duration_minutes"),
                }
            )
        cleaned["rollback_triggers"] = triggers
        return cleaned

    def _document(self) -> Any:
        if self._json_changed():
            try:
                return json.loads(self.data.get("document_json", ""))
            except ValueError as exc:
                self.add_error("document_json", _("Not valid JSON: %(e)s") % {"e": exc})
                return None
        document = json.loads(json.dumps(self.proposed))  # a deep copy
        for path in self.row_paths:
            posted = (self.data.get(ROW_PREFIX + path) or "").strip()
            start = self.starts[path]
            if posted == _text(start).strip():
                continue
            if posted == "":
                del_path(document, path)
                continue
            spec = self.specs[path]
            if spec.text or (spec.kind == "text" and (start is _ABSENT or isinstance(start, str))):
                set_path(document, path, posted)  # a tier, an operator, a label: text
                continue
            try:
                value = json.loads(posted)
            except ValueError:
                if isinstance(start, str) or isinstance(self.currents[path], str):
                    value = posted
                else:
                    self.add_error(
                        ROW_PREFIX + path,
                        _("rules.%(path)s: not a number, true/false, null or JSON value.")
                        % {"path": path},
                    )
                    continue
            if isinstance(start, str) and not isinstance(value, str):
                value = posted  # a label, a tier, a name: text stays text
            set_path(document, path, value)
        return document


class PickForm(NormalizedTextMixin, forms.Form):
    """Which model and which of its documents to propose a change to (GET)."""

    model = forms.ChoiceField(label=_("Model"))
    kind = forms.ChoiceField(
        label=_("Document"), choices=DocumentKind.choices, initial=DocumentKind.ROUTING_POLICY
    )

    def __init__(self, *args: Any, models: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(slug, slug) for slug in models]


class ListFilterForm(NormalizedTextMixin, forms.Form):
    model = forms.CharField(required=False, max_length=100)
    status = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(required=False)
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from .models import ChangeRequest

        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("Any")), *ChangeRequest.Status.choices]
        self.fields["kind"].choices = [("", _("Any")), *DocumentKind.choices]


class ApproveForm(NormalizedTextMixin, forms.Form):
    evidence_hash = forms.RegexField(regex=r"^[0-9a-f]{64}$", widget=forms.HiddenInput)
    comment = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea)
    acknowledge_risk = forms.BooleanField(required=False)


class CommentForm(NormalizedTextMixin, forms.Form):
    body = forms.CharField(
        label=_("Comment"), max_length=20_000, widget=forms.Textarea(attrs={"rows": 3})
    )


class ReasonForm(NormalizedTextMixin, forms.Form):
    """Reject (required comment), request changes, ratify: a comment beside the action."""

    comment = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea)

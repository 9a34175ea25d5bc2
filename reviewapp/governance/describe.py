"""Governed documents in plain words, and a rule-by-rule diff of two versions.

Pure functions (a document in, rows out), no database: the policy pages, the export and any
later page that shows a proposal read the same words. Semantics are docs/policies.md's; this
module only says them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .review_quality import LABELS as REVIEW_QUALITY_LABELS
from .rules import ESCALATION_DEFAULTS, TIERS, schema_of


def value_text(value: Any) -> str:
    """A rule's value as a person reads it: numbers plainly, text in quotes, lists by commas."""
    if value is None:
        return _("not set")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return f"“{value}”"
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def percent(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return _("not set")
    return f"{value * 100:g} %"


_OPS = {
    "==": gettext_lazy("is"),
    "!=": gettext_lazy("is not"),
    "<": gettext_lazy("is below"),
    "<=": gettext_lazy("is at most"),
    ">": gettext_lazy("is above"),
    ">=": gettext_lazy("is at least"),
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
}


def condition_text(condition: Mapping[str, Any]) -> str:
    """``input.amount >= 10000`` → "input.amount is at least 10000"."""
    field, op = condition.get("field", "?"), condition.get("op")
    if op == "exists":
        present = condition.get("value", True)
        return (
            _("%(f)s is present") % {"f": field} if present else _("%(f)s is absent") % {"f": field}
        )
    words = _OPS.get(op, str(op))
    return f"{field} {words} {value_text(condition.get('value'))}"


@dataclass(frozen=True)
class SegmentView:
    position: int
    name: str
    conditions: list[str]
    threshold: str
    by_label: list[tuple[str, float]]
    qa_sample_rate: str
    tier: str


@dataclass(frozen=True)
class PolicyView:
    """A routing policy's rules, each said in words, for the read-only policy page."""

    schema: int
    threshold: Any
    by_label: list[tuple[str, Any]]
    max_ood_score: Any
    route_on_drift: bool
    qa_sample_rate: str
    sla: list[tuple[str, Any]]
    segments: list[SegmentView]
    escalation: list[tuple[str, Any, bool]]  # (label, value, is the default)
    tolerated_error_rate: str
    tolerated_error_rate_set: bool
    fallback: dict[str, Any]


ESCALATION_LABELS = {
    "deferrals_before_escalation": gettext_lazy("Deferrals before an item escalates to a lead"),
    "sla_near_priority_bump": gettext_lazy("Priority added as the SLA deadline nears"),
    "sla_near_minutes": gettext_lazy("Minutes before the deadline that count as near"),
}


def policy_view(rules: Mapping[str, Any]) -> PolicyView:
    escalation = rules.get("escalation") or {}
    segments = []
    listed = (rules.get("segments") or []) if schema_of(rules) == 2 else []
    for i, seg in enumerate(listed):
        segments.append(
            SegmentView(
                position=i + 1,
                name=seg.get("name", ""),
                conditions=[condition_text(c) for c in seg.get("conditions", [])],
                threshold=value_text(seg["min_confidence"])
                if "min_confidence" in seg
                else _("%(v)s (the policy's)") % {"v": value_text(rules.get("min_confidence"))},
                by_label=sorted((seg.get("min_confidence_by_label") or {}).items()),
                qa_sample_rate=percent(seg["qa_sample_rate"])
                if "qa_sample_rate" in seg
                else _("%(v)s (the policy's)") % {"v": percent(rules.get("qa_sample_rate", 0))},
                tier=seg.get("tier") or _("the model's"),
            )
        )
    sla = rules.get("sla_minutes") or {}
    return PolicyView(
        schema=schema_of(rules),
        threshold=rules.get("min_confidence"),
        by_label=sorted((rules.get("min_confidence_by_label") or {}).items()),
        max_ood_score=rules.get("max_ood_score"),
        route_on_drift=bool(rules.get("route_on_drift", True)),
        qa_sample_rate=percent(rules.get("qa_sample_rate", 0)),
        sla=[(tier, sla.get(tier)) for tier in TIERS],
        segments=segments,
        escalation=[
            (str(label), escalation.get(key, ESCALATION_DEFAULTS[key]), key not in escalation)
            for key, label in ESCALATION_LABELS.items()
        ],
        tolerated_error_rate=percent(rules.get("max_auto_error_rate")),
        tolerated_error_rate_set=rules.get("max_auto_error_rate") is not None,
        fallback=dict(rules.get("fallback") or {}),
    )


# --- rule-by-rule diff ------------------------------------------------------------------------
_TOP_LABELS = {
    "schema": gettext_lazy("Rules schema"),
    "min_confidence": gettext_lazy("Threshold"),
    "max_ood_score": gettext_lazy("Out-of-distribution limit"),
    "route_on_drift": gettext_lazy("Route on drift"),
    "qa_sample_rate": gettext_lazy("QA sample rate"),
    "max_auto_error_rate": gettext_lazy("Tolerated error rate"),
    "criticality": gettext_lazy("Criticality tier"),
    "cost_of_wrong_decision": gettext_lazy("Cost of a wrong automated decision"),
    "cost_per_hour_of_delay": gettext_lazy("Cost per hour of a delayed decision"),
    "regulatory_class": gettext_lazy("Regulatory class"),
    "strict_output": gettext_lazy("Refuse a label its own scores contradict (strict output)"),
    "payload_retention_days": gettext_lazy("Days a prediction's payload is kept (empty: forever)"),
    # labels: the review-quality settings (their keys are their own; no other kind has them)
    **REVIEW_QUALITY_LABELS,
}


_MONITOR_LABELS = {
    "metric": gettext_lazy("metric"),
    "op": gettext_lazy("fires when the metric is (> above, < below)"),
    "bound": gettext_lazy("bound"),
    "duration_minutes": gettext_lazy("for at least (minutes) before it counts as a shift"),
    "severity": gettext_lazy("severity"),
    "action": gettext_lazy("action on a persistent shift"),
    "resolve_minutes": gettext_lazy("back inside for (minutes) before the alert resolves"),
    "shift_sample_size": gettext_lazy("recent auto-accepted predictions sampled on a shift"),
    "description": gettext_lazy("description"),
}


def flatten(document: Mapping[str, Any]) -> dict[str, Any]:
    """{rule path: value}. Segments are keyed by name, not position, so a moved segment reads
    as a change of order (its own row), not as every rule of two segments changing."""
    out: dict[str, Any] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict) and value:
            for key in sorted(value):
                walk(value[key], f"{path}.{key}" if path else str(key))
        else:
            out[path] = value

    for key in sorted(document):
        value = document[key]
        if key == "segments" and isinstance(value, list):
            names = [s.get("name") if isinstance(s, dict) else None for s in value]
            out["segments.order"] = names
            for seg in value:
                if not isinstance(seg, dict):
                    continue
                name = seg.get("name")
                for rule in sorted(seg):
                    if rule == "name":
                        continue
                    rule_value = seg[rule]
                    if rule == "conditions" and isinstance(rule_value, list):
                        rule_value = [condition_text(c) for c in rule_value if isinstance(c, dict)]
                    walk(rule_value, f"segments[{name}].{rule}")
        elif key == "monitors" and isinstance(value, list):
            names = [m.get("name") if isinstance(m, dict) else None for m in value]
            out["monitors.order"] = names
            for monitor in value:
                if isinstance(monitor, dict):
                    for rule in sorted(set(monitor) - {"name"}):
                        walk(monitor[rule], f"monitors[{monitor.get('name')}].{rule}")
        else:
            walk(value, key)
    return out


def path_label(path: str) -> str:
    """A rule path in words: ``sla_minutes.high`` → "SLA, high tier (minutes)"."""
    if path in _TOP_LABELS:
        return str(_TOP_LABELS[path])
    head, _dot, rest = path.partition(".")
    if head == "min_confidence_by_label":
        return _("Threshold for label “%(l)s”") % {"l": rest}
    if head == "sla_minutes":
        return _("SLA, %(t)s tier (minutes)") % {"t": rest}
    if head == "fallback":
        return _("Safe fallback: %(k)s") % {"k": rest}
    if head == "escalation" and rest in ESCALATION_LABELS:
        return str(ESCALATION_LABELS[rest])
    if path == "segments.order":
        return _("Segments, in the order they are checked")
    if head.startswith("segments["):
        name = head[len("segments[") : -1]
        return _("Segment %(n)s: %(r)s") % {"n": name, "r": path_label(rest) if rest else ""}
    if path == "monitors.order":
        return _("Monitors")
    if head.startswith("monitors["):
        name = head[len("monitors[") : -1]
        return _("Monitor %(n)s: %(r)s") % {
            "n": name, "r": str(_MONITOR_LABELS.get(rest, rest)),
        }  # fmt: skip
    if head == "conditions":
        return _("conditions (all must hold)")
    if head == "tier":
        return _("tier")
    return path


@dataclass(frozen=True)
class DiffRow:
    path: str
    label: str
    a: str
    b: str
    change: str  # "changed", "added", "removed", "same"


def _shown(value: Any, present: bool) -> str:
    if not present:
        return "—"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " · ".join(value) if value else "—"
    return value_text(value)


def diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[DiffRow]:
    """Every rule of either version, in path order, with what changed from ``a`` to ``b``."""
    fa, fb = flatten(a), flatten(b)
    rows = []
    for path in sorted(set(fa) | set(fb)):
        in_a, in_b = path in fa, path in fb
        if in_a and in_b:
            change = "same" if fa[path] == fb[path] else "changed"
        else:
            change = "added" if in_b else "removed"
        rows.append(
            DiffRow(
                path=path,
                label=path_label(path),
                a=_shown(fa.get(path), in_a),
                b=_shown(fb.get(path), in_b),
                change=change,
            )
        )
    return rows

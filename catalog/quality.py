"""Quality checks on a failure mode's content: required fields per status and completeness.

Pure functions over the snapshot dict (see ``services.failure_mode_snapshot``), so the form,
the service and the import all judge an entry the same way.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

FIELD_LABELS: dict[str, Any] = {
    "title": _("Title"),
    "summary": _("Summary"),
    "category": _("Category"),
    "cause": _("Cause"),
    "effect": _("Effect"),
    "latent_conditions": _("Latent conditions"),
    "trigger_steps": _("Trigger steps"),
    "detection_signals": _("Detection signals"),
    "severity": _("Severity"),
    "business_impact": _("Business impact"),
    "kpis": _("KPIs affected"),
    "tags": _("Tags"),
    "owner": _("Owner"),
    "steward": _("Steward"),
    "affected_models": _("Affected models"),
    "evidence_links": _("Evidence links"),
    "external_refs": _("External references"),
    "signal_keys": _("Signal keys"),
}

# Each status needs everything the one before it needs, plus more.
REQUIRED_BY_STATUS: dict[str, list[str]] = {
    "draft": ["title", "summary", "category"],
    "in_review": ["title", "summary", "category", "cause", "effect", "detection_signals",
                  "severity"],
    "published": ["title", "summary", "category", "cause", "effect", "detection_signals",
                  "severity", "trigger_steps", "business_impact", "owner", "steward"],
}  # fmt: skip
REQUIRED_BY_STATUS["deprecated"] = REQUIRED_BY_STATUS["draft"]

# What a complete entry has; the completeness score is the share of these filled in.
COMPLETENESS_FIELDS = [
    "summary", "category", "cause", "effect", "latent_conditions", "trigger_steps",
    "detection_signals", "signal_keys", "business_impact", "kpis", "tags", "owner", "steward",
    "affected_models", "evidence_links", "external_refs",
]  # fmt: skip


def _filled(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, dict):
        return any(_filled(v) for v in value.values())
    if isinstance(value, list | tuple):
        return len(value) > 0
    return value is not None


def missing_for_status(snapshot: dict[str, Any], status: str) -> list[str]:
    return [f for f in REQUIRED_BY_STATUS.get(status, []) if not _filled(snapshot.get(f))]


def completeness(snapshot: dict[str, Any]) -> int:
    """0–100: the share of COMPLETENESS_FIELDS that hold something."""
    filled = sum(1 for f in COMPLETENESS_FIELDS if _filled(snapshot.get(f)))
    return round(100 * filled / len(COMPLETENESS_FIELDS))


def completeness_gaps(snapshot: dict[str, Any]) -> list[str]:
    return [f for f in COMPLETENESS_FIELDS if not _filled(snapshot.get(f))]

"""Governed documents, generic over their kind: validate, read the active version, find an
earlier one, create and activate the next.

Three kinds ship: ``routing_policy`` (the :class:`PolicyVersion` rules), ``model_settings``
(criticality tier and business profile) and ``monitors`` (what the fail-safe monitors watch,
``governance/monitors.py``), the last two as :class:`DocumentVersion` rows. Governance imports nothing
from the queue: what it needs to know about a model (its labels and criticality) comes from
the ``governance.model_info`` hook, and applying model settings to the queue's model row goes
through the ``governance.model_settings_applied`` hook; the queue app registers both
(reviewapp/apps.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from reviewapp.core import clock, registry
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import NotFound

from ..models import DocumentKind, DocumentVersion, PolicyVersion
from ..monitors import validate_monitors
from ..review_quality import validate_review_quality
from ..rules import TIERS, validate_rules
from .common import METRIC_NAMES_HOOK, next_version_number, version_make_active
from .policies import policy_version_activate, policy_version_create
from .staleness import document_moved

MODEL_INFO_HOOK = "governance.model_info"
SETTINGS_APPLIED_HOOK = "governance.model_settings_applied"

REGULATORY_CLASSES = ("none", "internal", "regulated", "high_risk")
SETTINGS_KEYS = ("criticality", "cost_of_wrong_decision", "cost_per_hour_of_delay",
                 "regulatory_class")  # fmt: skip
# Settings a version may leave out: ``strict_output`` (absent means false) refuses, with a 400,
# a prediction whose label its own scores contradict instead of routing it to review.
# ``payload_retention_days`` (absent or null: kept forever) is how many days a prediction's
# payload is kept before the retention policy exports and removes it (issue 18).
OPTIONAL_SETTINGS_KEYS = ("strict_output", "payload_retention_days")


@dataclass(frozen=True)
class Version:
    """One version of a governed document, whatever its kind."""

    version: int
    hash: str
    document: dict[str, Any]
    is_active: bool
    activated_at: Any
    deactivated_at: Any


def model_info(model_slug: str) -> dict[str, Any]:
    """{"labels": [...], "criticality": tier} of a registered model, or NotFound (404)."""
    for info in registry.run_hooks(MODEL_INFO_HOOK, model_slug=model_slug):
        return info
    raise NotFound(_("No registered model '%(slug)s'.") % {"slug": model_slug}, field="model")


def validate_model_settings(document: Any) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(document, dict):
        return {"": [_("Must be a JSON object.")]}
    for key in sorted(set(document) - set(SETTINGS_KEYS) - set(OPTIONAL_SETTINGS_KEYS)):
        errors[key] = [_("Unknown key.")]
    if not isinstance(document.get("strict_output", False), bool):
        errors["strict_output"] = [_("Must be true or false (absent means false).")]
    retention = document.get("payload_retention_days")
    if retention is not None and (
        isinstance(retention, bool) or not isinstance(retention, int) or retention < 1
    ):
        errors["payload_retention_days"] = [
            _("A whole number of days ≥ 1, or null (absent) to keep payloads forever.")
        ]
    if document.get("criticality") not in TIERS:
        errors["criticality"] = [_("Required: one of %s.") % ", ".join(TIERS)]
    for key in ("cost_of_wrong_decision", "cost_per_hour_of_delay"):
        value = document.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            errors[key] = [_("Required: a number ≥ 0 (in the operator's currency).")]
    if document.get("regulatory_class") not in REGULATORY_CLASSES:
        errors["regulatory_class"] = [_("Required: one of %s.") % ", ".join(REGULATORY_CLASSES)]
    return errors


def validate_document(*, kind: str, document: Any, model_slug: str) -> dict[str, list[str]]:
    """Problems by path inside the document (``segments[1].name``, ``criticality``)."""
    if kind == DocumentKind.ROUTING_POLICY:
        return validate_rules(document, labels=model_info(model_slug).get("labels"))
    if kind == DocumentKind.MODEL_SETTINGS:
        return validate_model_settings(document)
    if kind == DocumentKind.MONITORS:
        known = {name for names in registry.run_hooks(METRIC_NAMES_HOOK) for name in names}
        return validate_monitors(document, metric_names=known)
    if kind == DocumentKind.REVIEW_QUALITY:
        return validate_review_quality(document, labels=model_info(model_slug).get("labels"))
    raise ValueError(f"unknown document kind {kind!r}")


def _of(row: PolicyVersion | DocumentVersion) -> Version:
    return Version(
        row.version,
        getattr(row, row.HASH_FIELD),
        getattr(row, row.CONTENT_FIELD),
        row.is_active,
        row.activated_at,
        row.deactivated_at,
    )


def versions(*, model_slug: str, kind: str) -> list[Version]:
    """Every version of the document, newest first."""
    if kind == DocumentKind.ROUTING_POLICY:
        return [_of(p) for p in PolicyVersion.objects.filter(model_slug=model_slug)]
    return [
        _of(d)
        for d in DocumentVersion.objects.filter(model_slug=model_slug, kind=kind).order_by(
            "-version"
        )
    ]


def active_version(*, model_slug: str, kind: str) -> Version | None:
    if kind == DocumentKind.ROUTING_POLICY:
        p = PolicyVersion.objects.filter(model_slug=model_slug, is_active=True).first()
        return _of(p) if p else None
    d = DocumentVersion.objects.filter(model_slug=model_slug, kind=kind, is_active=True).first()
    return _of(d) if d else None


def version_of(*, model_slug: str, kind: str, version: int) -> Version | None:
    if kind == DocumentKind.ROUTING_POLICY:
        p = PolicyVersion.objects.filter(model_slug=model_slug, version=version).first()
        return _of(p) if p else None
    d = DocumentVersion.objects.filter(model_slug=model_slug, kind=kind, version=version).first()
    return _of(d) if d else None


def previously_active(*, model_slug: str, kind: str) -> Version | None:
    """The version that was active immediately before the current one (by activation time)."""
    current = active_version(model_slug=model_slug, kind=kind)
    earlier = [
        v
        for v in versions(model_slug=model_slug, kind=kind)
        if v.activated_at is not None and (current is None or v.version != current.version)
    ]
    if not earlier:
        return None
    return max(earlier, key=lambda v: (v.activated_at, v.version))


def create_and_activate(
    *, model_slug: str, kind: str, document: dict[str, Any], actor: Actor, change_request: Any,
    created_by: Any = None,
) -> Version:  # fmt: skip
    """The next immutable version, made active in the caller's transaction; open requests on
    the older base of this kind go stale. Model settings also reach the queue's model row."""
    if kind == DocumentKind.ROUTING_POLICY:
        policy = policy_version_create(
            model_slug=model_slug,
            rules=document,
            labels=model_info(model_slug).get("labels"),
            note=_("Change request #%(id)s") % {"id": change_request.pk},
            actor=actor,
            created_by=created_by,
            change_request=change_request,
        )
        policy_version_activate(policy=policy, actor=actor)
        return _of(policy)
    versions = DocumentVersion.objects.filter(model_slug=model_slug, kind=kind)
    new = DocumentVersion(
        model_slug=model_slug,
        kind=kind,
        version=next_version_number(versions),
        document=document,
        created_by=created_by,
        change_request=change_request,
    )
    new.save(force_insert=True)
    audit_record(
        actor=actor,
        verb="governance.document_version.created",
        target=new,
        after={"version": new.version, "document_hash": new.document_hash, "document": document},
        data={"model": model_slug, "kind": kind, "change_request": change_request.pk},
    )
    current = version_make_active(new, versions, clock.now())
    audit_record(
        actor=actor,
        verb="governance.document_version.activated",
        target=new,
        before={"active_version": current.version if current else None},
        after={"active_version": new.version, "document_hash": new.document_hash},
        data={"model": model_slug, "kind": kind},
    )
    if kind == DocumentKind.MODEL_SETTINGS:
        applied = registry.run_hooks(
            SETTINGS_APPLIED_HOOK, model_slug=model_slug, document=document, actor=actor
        )
        if not applied:
            raise ImproperlyConfigured(
                f"No app registered the {SETTINGS_APPLIED_HOOK} hook: model settings would not "
                "reach the model."
            )
    document_moved(model_slug=model_slug, kind=kind, version=new.version, actor=actor)
    return _of(new)

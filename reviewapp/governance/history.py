"""Reads of a model's version history: every version of its routing policy and of its model
settings, with who proposed it, who approved it, when it was active and why.

A fixed number of queries whatever the number of versions (the policy pages pin it). Imports
nothing from the queue (pyproject.toml's contract on governance's selectors covers it).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F

from . import selectors
from .models import Approval, ChangeRequest, DocumentKind, DocumentVersion, PolicyVersion


@dataclass(frozen=True)
class VersionEntry:
    """One version of one governed document, as the history, the diff and the export read it."""

    kind: str
    version: int
    hash: str
    document: dict[str, Any]
    is_active: bool
    created_at: dt.datetime
    activated_at: dt.datetime | None
    deactivated_at: dt.datetime | None
    created_by: Any
    change_request: ChangeRequest | None
    note: str = ""
    approvals: list[Approval] = field(default_factory=list)

    @property
    def short_hash(self) -> str:
        return self.hash[:8]

    @property
    def proposer(self) -> Any:
        """Who proposed it: the request's proposer (None: the system, for a bootstrap)."""
        if self.change_request is not None:
            return self.change_request.proposer
        return self.created_by

    @property
    def rationale(self) -> str:
        """The request's rationale; a version made before change requests has its note."""
        cr = self.change_request
        return cr.rationale if cr is not None else self.note

    @property
    def is_emergency(self) -> bool:
        return bool(self.change_request and self.change_request.is_emergency)

    @property
    def approvers(self) -> list[str]:
        return [a.user.get_username() for a in self.approvals]


def _approvals_by_request(request_ids: set[int]) -> dict[int, list[Approval]]:
    """The live approvals of many requests in one query: the same rule as
    :func:`selectors.live_approvals` (not lapsed, on the request's revision and evidence)."""
    found: dict[int, list[Approval]] = defaultdict(list)
    if not request_ids:
        return found
    rows = Approval.objects.filter(
        change_request_id__in=request_ids,
        lapsed_at__isnull=True,
        revision=F("change_request__revision"),
        evidence_hash=F("change_request__evidence_hash"),
    ).select_related("user")
    for approval in rows.order_by("created_at", "id"):
        found[approval.change_request_id].append(approval)
    return found


def _policy_entries(model_slug: str) -> list[VersionEntry]:
    rows = PolicyVersion.objects.filter(model_slug=model_slug).select_related(
        "created_by", "change_request__proposer", "change_request__ratified_by"
    )
    return [
        VersionEntry(
            kind=DocumentKind.ROUTING_POLICY,
            version=p.version,
            hash=p.rules_hash,
            document=p.rules,
            is_active=p.is_active,
            created_at=p.created_at,
            activated_at=p.activated_at,
            deactivated_at=p.deactivated_at,
            created_by=p.created_by,
            change_request=p.change_request,
        )  # fmt: skip
        for p in rows.order_by("-version")
    ]


def _document_entries(model_slug: str, kind: str) -> list[VersionEntry]:
    rows = DocumentVersion.objects.filter(model_slug=model_slug, kind=kind).select_related(
        "created_by", "change_request__proposer", "change_request__ratified_by"
    )
    return [
        VersionEntry(
            kind=kind,
            version=d.version,
            hash=d.document_hash,
            document=d.document,
            is_active=d.is_active,
            created_at=d.created_at,
            activated_at=d.activated_at,
            deactivated_at=d.deactivated_at,
            created_by=d.created_by,
            change_request=d.change_request,
        )  # fmt: skip
        for d in rows.order_by("-version")
    ]


def _with_approvals(entries: list[VersionEntry]) -> list[VersionEntry]:
    by_request = _approvals_by_request(
        {e.change_request.pk for e in entries if e.change_request is not None}
    )
    for e in entries:
        if e.change_request is not None:
            e.approvals.extend(by_request.get(e.change_request.pk, []))
    return entries


def version_history(*, model_slug: str, kind: str | None = None) -> list[VersionEntry]:
    """Every version of the model's governed documents (or of one ``kind``), newest first per
    kind, the routing policy first; three queries."""
    entries: list[VersionEntry] = []
    if kind in (None, DocumentKind.ROUTING_POLICY):
        entries += _policy_entries(model_slug)
    if kind in (None, DocumentKind.MODEL_SETTINGS):
        entries += _document_entries(model_slug, DocumentKind.MODEL_SETTINGS)
    return _with_approvals(entries)


def version_entry(*, model_slug: str, kind: str, version: int) -> VersionEntry | None:
    if kind == DocumentKind.ROUTING_POLICY:
        rows = [e for e in _policy_entries(model_slug) if e.version == version]
    else:
        rows = [e for e in _document_entries(model_slug, kind) if e.version == version]
    return _with_approvals(rows)[0] if rows else None


def active_entries(*, model_slug: str) -> dict[str, VersionEntry | None]:
    """{kind: the active version} of the routing policy and the model settings."""
    policy = (
        PolicyVersion.objects.filter(model_slug=model_slug, is_active=True)
        .select_related("created_by", "change_request__proposer", "change_request__ratified_by")
        .first()
    )
    settings_doc = (
        DocumentVersion.objects.filter(
            model_slug=model_slug, kind=DocumentKind.MODEL_SETTINGS, is_active=True
        )
        .select_related("created_by", "change_request__proposer")
        .first()
    )
    entries: dict[str, VersionEntry | None] = {
        DocumentKind.ROUTING_POLICY: None,
        DocumentKind.MODEL_SETTINGS: None,
    }
    if policy is not None:
        entries[DocumentKind.ROUTING_POLICY] = VersionEntry(
            kind=DocumentKind.ROUTING_POLICY, version=policy.version, hash=policy.rules_hash,
            document=policy.rules, is_active=True, created_at=policy.created_at,
            activated_at=policy.activated_at, deactivated_at=None, created_by=policy.created_by,
            change_request=policy.change_request, note=policy.note,
        )  # fmt: skip
    if settings_doc is not None:
        entries[DocumentKind.MODEL_SETTINGS] = VersionEntry(
            kind=DocumentKind.MODEL_SETTINGS, version=settings_doc.version,
            hash=settings_doc.document_hash, document=settings_doc.document, is_active=True,
            created_at=settings_doc.created_at, activated_at=settings_doc.activated_at,
            deactivated_at=None, created_by=settings_doc.created_by,
            change_request=settings_doc.change_request,
        )  # fmt: skip
    _with_approvals([e for e in entries.values() if e is not None])
    return entries


def emergency_awaiting(model_slug: str) -> ChangeRequest | None:
    """The model's newest emergency rollback still awaiting its committee ratification."""
    return (
        selectors.emergency_rollbacks_awaiting_ratification()
        .filter(model_slug=model_slug, status=ChangeRequest.Status.APPLIED)
        .order_by("-applied_at", "-id")
        .first()
    )

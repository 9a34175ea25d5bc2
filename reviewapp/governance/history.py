"""Reads of a model's version history: every version of its routing policy and of its model
settings, with who proposed it, who approved it, when it was active and why.

A fixed number of queries whatever the number of versions (the policy pages pin it). Imports
nothing from the queue (pyproject.toml's contract on governance's selectors covers it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from . import selectors
from .models import Approval, ChangeRequest, DocumentKind, DocumentVersion, PolicyVersion

# Every governed document, in the order pages list them.
KINDS = (
    DocumentKind.ROUTING_POLICY,
    DocumentKind.MODEL_SETTINGS,
    DocumentKind.MONITORS,
    DocumentKind.REVIEW_QUALITY,
)


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


def _with_approvals(entries: list[VersionEntry]) -> list[VersionEntry]:
    """Each entry's live approvals (selectors.live_approvals_of: one query for them all)."""
    requests = {e.change_request.pk: e.change_request for e in entries if e.change_request}
    by_request = selectors.live_approvals_of(list(requests.values()))
    for e in entries:
        if e.change_request is not None:
            e.approvals.extend(by_request.get(e.change_request.pk, []))
    return entries


def _rows(model_slug: str, kind: str):
    """The versions of one document of one model, with what their entries read."""
    if kind == DocumentKind.ROUTING_POLICY:
        rows = PolicyVersion.objects.filter(model_slug=model_slug)
    else:
        rows = DocumentVersion.objects.filter(model_slug=model_slug, kind=kind)
    return rows.select_related(
        "created_by", "change_request__proposer", "change_request__ratified_by"
    ).order_by("-version")


def _entry(row: PolicyVersion | DocumentVersion, kind: str) -> VersionEntry:
    return VersionEntry(
        kind=kind,
        version=row.version,
        hash=getattr(row, row.HASH_FIELD),
        document=getattr(row, row.CONTENT_FIELD),
        is_active=row.is_active,
        created_at=row.created_at,
        activated_at=row.activated_at,
        deactivated_at=row.deactivated_at,
        created_by=row.created_by,
        change_request=row.change_request,
        note=getattr(row, "note", ""),
    )


def version_history(*, model_slug: str, kind: str | None = None) -> list[VersionEntry]:
    """Every version of the model's governed documents (or of one ``kind``), newest first per
    kind, the routing policy first; three queries."""
    kinds = [k for k in KINDS if kind in (None, k)]
    return _with_approvals([_entry(row, k) for k in kinds for row in _rows(model_slug, k)])


def version_entry(*, model_slug: str, kind: str, version: int) -> VersionEntry | None:
    row = _rows(model_slug, kind).filter(version=version).first()
    return _with_approvals([_entry(row, kind)])[0] if row is not None else None


def active_entries(*, model_slug: str) -> dict[str, VersionEntry | None]:
    """{kind: the active version} of each governed document (None: it has none)."""
    entries: dict[str, VersionEntry | None] = {}
    for kind in KINDS:
        row = _rows(model_slug, kind).filter(is_active=True).first()
        entries[kind] = _entry(row, kind) if row is not None else None
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

"""Helpers of the change-request tests (their fixtures are in conftest.py)."""

from __future__ import annotations

import datetime as dt
import hashlib

from reviewapp.core.audit import Actor
from reviewapp.governance import services
from reviewapp.governance.hashes import evidence_hash
from reviewapp.governance.models import ChangeRequest
from tests.factories import DEFAULT_RULES

WINDOW = (dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 15, tzinfo=dt.UTC))


def proposal(**changes) -> dict:
    return {**DEFAULT_RULES, "min_confidence": 0.75, **changes}


def give_evidence(cr: ChangeRequest, **summary) -> str:
    """What the evidence module does: compute the hash and store it with its summary."""
    cr.refresh_from_db()
    digest = evidence_hash(
        base_hash=cr.base_hash or None,
        proposed_hash=cr.document_hash,
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        replay_result={"summary": summary, "revision": cr.revision},
    )
    services.change_request_evidence_set(
        change_request_id=cr.pk,
        revision=cr.revision,
        evidence_hash=digest,
        summary=summary,
        actor=Actor.system("evidence"),
    )
    return digest


def submitted(model, user, document=None, **kwargs) -> tuple[ChangeRequest, str]:
    """A request in review with its evidence stored: (request, evidence hash)."""
    summary = kwargs.pop("summary", {})
    cr = services.change_request_create(
        model_slug=model.slug,
        user=user,
        document=document or proposal(),
        rationale="Fewer false alarms on small amounts.",
        **kwargs,
    )
    services.change_request_submit(change_request_id=cr.pk, user=user)
    digest = give_evidence(cr, **summary)
    cr.refresh_from_db()
    return cr, digest


def approve(cr: ChangeRequest, user, digest: str, **kwargs) -> ChangeRequest:
    services.change_request_approve(
        change_request_id=cr.pk, user=user, evidence_hash=digest, **kwargs
    )
    cr.refresh_from_db()
    return cr


def other_hash() -> str:
    return hashlib.sha256(b"something else").hexdigest()

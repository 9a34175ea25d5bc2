"""Evidence for a change request: asked for after every submit, edit and rebase, computed by a
Celery task on the model's real traffic (``governance.evidence``), stored with the revision it
was computed for. Votes are bound to the stored evidence's hash.

The request services do not import the task (services never import tasks): they run the
``governance.evidence_requested`` hook after commit, and these functions, registered from
``GovernanceConfig.ready()``, publish the task by name and store what it hands back.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.publish import task_publish

from ..hashes import evidence_hash
from ..models import ChangeRequest, DocumentKind
from .change_requests import change_request_evidence_set

logger = logging.getLogger(__name__)
EVIDENCE_TASK = "failsafe.governance_compute_evidence"
EVIDENCE_ACTOR = Actor.system("governance-evidence")


def change_request_evidence_request(*, change_request_id: int, revision: int) -> None:
    """Start computing the evidence of one revision of a request.

    A routing policy is judged on replayed traffic (the task). A model's settings change no
    routing decision, so their evidence is the documents themselves, stored at once."""
    cr = ChangeRequest.objects.filter(pk=change_request_id, revision=revision).first()
    if cr is None:
        return  # edited again meanwhile: that revision asked for its own evidence
    if cr.kind == DocumentKind.ROUTING_POLICY:
        task_publish(
            EVIDENCE_TASK,
            args=[
                cr.model_slug,
                cr.document,
                cr.base_version,
                {"change_request_id": cr.pk, "revision": revision},
            ],
        )
        return
    now = clock.now()
    change_request_evidence_set(
        change_request_id=cr.pk,
        revision=revision,
        evidence_hash=evidence_hash(
            base_hash=cr.base_hash or None,
            proposed_hash=cr.document_hash,
            window_start=now,
            window_end=now,
            replay_result={"kind": cr.kind},
        ),
        summary={},
        actor=EVIDENCE_ACTOR,
    )


def evidence_summary(evidence: Any) -> dict[str, Any]:
    """What the request keeps: the flags its quorum and approval rules read, and the whole
    evidence for the request page."""
    totals = evidence.summary.get("impact", {}).get("totals", {})
    before, after = totals.get("active", 0), totals.get("proposal", 0)
    change = (after - before) / before if before else (1.0 if after else 0.0)
    flags = evidence.flags
    escaping = evidence.summary.get("impact", {}).get("escaping_errors", {}).get("count", 0)
    return {
        "reviewed_volume_change": round(change, 6),
        "escaping_errors_delta": escaping if flags.get("escaping_errors_increase") else 0,
        "calibration_warning": bool(flags.get("calibration_warning")),
        "replay_mismatches": int(flags.get("replay_mismatches") or 0),
        "evidence": evidence.as_dict(),
    }


def change_request_evidence_ready(*, revision: Any, evidence: Any) -> None:
    """Store the task's evidence with the revision it was computed for; evidence of a revision
    that has since changed is dropped (the newer revision asked for its own)."""
    if not isinstance(revision, dict) or "change_request_id" not in revision:
        return  # computed for someone else (a benchmark, a shell)
    try:
        change_request_evidence_set(
            change_request_id=revision["change_request_id"],
            revision=revision["revision"],
            evidence_hash=evidence.hash,
            summary=evidence_summary(evidence),
            actor=EVIDENCE_ACTOR,
        )
    except ServiceError as exc:
        logger.info("Evidence for change request %s not stored: %s", revision, exc.message)


def _current(revision: Any) -> ChangeRequest | None:
    if not isinstance(revision, dict) or "change_request_id" not in revision:
        return None  # computed for someone else (a benchmark, a shell)
    return (
        ChangeRequest.objects.select_for_update()
        .filter(pk=revision["change_request_id"], revision=revision.get("revision"))
        .first()
    )


@transaction.atomic
def change_request_evidence_started(*, revision: Any) -> None:
    """A worker took the evidence task: the page shows it running."""
    cr = _current(revision)
    if cr is None or cr.evidence_state != ChangeRequest.EvidenceState.PENDING:
        return
    ChangeRequest.objects.filter(pk=cr.pk).update(
        evidence_state=ChangeRequest.EvidenceState.RUNNING
    )


@transaction.atomic
def change_request_evidence_failed(*, revision: Any, errors: dict[str, list[str]]) -> None:
    """The proposal could not be replayed (bad rules, an unknown version): the request keeps no
    evidence and says why, so no vote can be cast until an edit or a rebase asks again."""
    logger.warning("Evidence for change request %s failed: %s", revision, errors)
    cr = _current(revision)
    if cr is None or cr.evidence_state == ChangeRequest.EvidenceState.READY:
        return
    errors = {str(k): [str(m) for m in v] for k, v in (errors or {}).items()} or {
        "evidence": ["The evidence could not be computed."]
    }
    ChangeRequest.objects.filter(pk=cr.pk).update(
        evidence_state=ChangeRequest.EvidenceState.FAILED, evidence_errors=errors
    )
    audit_record(
        actor=EVIDENCE_ACTOR,
        verb="governance.change_request.evidence_failed",
        target=cr,
        data={"revision": cr.revision, "errors": errors},
    )

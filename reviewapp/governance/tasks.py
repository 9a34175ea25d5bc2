"""Governance's Celery tasks: thin, ids and JSON in, one service call (redelivery is harmless).

The beat tasks re-check every row they touch; the evidence task only reads and hands its result
to a hook, so running it twice calls the hook twice with the same evidence.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from reviewapp.core import registry
from reviewapp.core.exceptions import ServiceError

from .evidence import evidence_compute
from .services import (
    change_requests_apply_due,
    change_requests_expire,
    emergency_ratification_reminders,
    emergency_ratifications_overdue,
    rollback_triggers_check,
)
from .services.evidence import EVIDENCE_TASK

logger = logging.getLogger(__name__)


@shared_task(name="governance.apply_due", acks_late=True, ignore_result=True,
             soft_time_limit=50, time_limit=60)  # fmt: skip
def apply_due() -> int:
    """End shadow periods that are over and apply scheduled change requests whose time has
    come (a stale one stays suspended)."""
    return len(change_requests_apply_due())


@shared_task(name="governance.expire_requests", acks_late=True, ignore_result=True,
             soft_time_limit=110, time_limit=120)  # fmt: skip
def expire_requests() -> int:
    return len(change_requests_expire())


@shared_task(name="governance.ratifications_overdue", acks_late=True, ignore_result=True,
             soft_time_limit=110, time_limit=120)  # fmt: skip
def ratifications_overdue() -> int:
    """Open the revert request of an unratified emergency rollback past its due time, and
    remind the committee (daily) until it is ratified. Returns how many were opened."""
    opened = emergency_ratifications_overdue()
    emergency_ratification_reminders()
    return len(opened)


@shared_task(name="governance.check_rollback_triggers", acks_late=True, ignore_result=True,
             soft_time_limit=50, time_limit=60)  # fmt: skip
def check_rollback_triggers() -> int:
    """Evaluate the rollback triggers of applied requests; roll back where one holds."""
    return len(rollback_triggers_check())


# --- evidence for a change request ------------------------------------------------------------
# Hooks the change-request mechanism registers (core registry) to store the outcome with the
# request revision named by ``revision``: called with (revision, evidence) or (revision, errors).
EVIDENCE_READY_HOOK = "governance.evidence_ready"
EVIDENCE_FAILED_HOOK = "governance.evidence_failed"
EVIDENCE_STARTED_HOOK = "governance.evidence_started"


@shared_task(
    name=EVIDENCE_TASK,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=240,
    time_limit=300,
)
def governance_compute_evidence(
    model_slug: str,
    proposed_rules: dict[str, Any],
    base_version: int | None = None,
    revision: Any = None,
) -> None:
    """Compute the evidence of a proposal and hand it to whoever stores it.

    Recomputing is harmless (reads only; the same data gives the same hash), so a redelivered
    task only calls the hook again; the hook checks that ``revision`` is still current.
    """
    registry.run_hooks(EVIDENCE_STARTED_HOOK, revision=revision)
    try:
        evidence = evidence_compute(
            model_slug=model_slug, proposed_rules=proposed_rules, base_version=base_version
        )
    except ServiceError as exc:
        logger.info("evidence for %s not computed: %s", model_slug, exc.message)
        registry.run_hooks(EVIDENCE_FAILED_HOOK, revision=revision, errors=exc.errors)
        return
    registry.run_hooks(EVIDENCE_READY_HOOK, revision=revision, evidence=evidence)

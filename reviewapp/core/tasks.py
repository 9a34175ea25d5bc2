from __future__ import annotations

from celery import shared_task

from .audit import audit_seal_run, audit_verify_and_record


@shared_task(name="failsafe.seal_audit", acks_late=True, ignore_result=True)
def seal_audit() -> int:
    """Chain new audit events and checkpoint the head; a redelivered run finds nothing new to
    seal and so writes no checkpoint."""
    return audit_seal_run()


@shared_task(
    name="failsafe.verify_audit",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=3600,
    time_limit=3700,
)
def verify_audit() -> bool:
    """Beat's daily check of the whole chain against the checkpoints (shown on /audit/)."""
    return audit_verify_and_record(trigger="beat").ok

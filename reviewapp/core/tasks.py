from __future__ import annotations

from celery import shared_task

from .audit import audit_seal_run, audit_verify_and_record
from .notifications import notification_email_send, notifications_prune


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


# At most once (no acks_late): a redelivered message would send the same email twice, and the
# in-app row, not the email, is the record. Short limits: a stuck mail server gives up.
@shared_task(
    name="failsafe.notification_email",
    acks_late=False,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def notification_email(user_ids: list[int], title: str, body: str, link: str) -> int:
    """Email one notification to its recipients (published by core.notifications.notify)."""
    return notification_email_send(user_ids=user_ids, title=title, body=body, link=link)


@shared_task(name="failsafe.prune_notifications", acks_late=True, ignore_result=True)
def prune_notifications() -> int:
    """Beat: drop read notifications past NOTIFICATIONS_RETENTION_DAYS (idempotent)."""
    return notifications_prune()

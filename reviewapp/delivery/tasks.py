"""Thin beat tasks: fill the outbox, send what is due. Re-running either is harmless."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from . import services


@shared_task(name="failsafe.delivery_fill", acks_late=True, ignore_result=True)
def fill_delivery_outbox() -> int:
    report = services.deliveries_enqueue()
    if report.pending:
        # Send now rather than on the next beat tick; the sender finds rows by data.
        transaction.on_commit(send_due_deliveries.delay)
    return report.total


@shared_task(name="failsafe.delivery_send", acks_late=True, ignore_result=True)
def send_due_deliveries() -> int:
    return services.deliveries_send_due().claimed

"""Reads of the audit log for the audit page and its export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Q, QuerySet

from .models import AuditEvent, AuditSeal, AuditSubject, AuditVerification


def audit_events(
    *,
    actor: str = "",
    actor_type: str = "",
    verbs: Iterable[str] = (),
    target_type: str = "",
    target_id: str = "",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Events matching every given filter, newest first, with their seal.

    ``target_type`` (+ ``target_id``) matches an event's own target and the subjects a batch
    event names (the indexed AuditSubject rows), so "everything about item 41" includes the
    routing chunk that created it. ``actor`` is the actor's label (a username, a service
    account's name) or id, case-insensitive.
    """
    events = AuditEvent.objects.select_related("seal").order_by("-id")
    if actor:
        events = events.filter(Q(actor_label__iexact=actor) | Q(actor_id=actor))
    if actor_type:
        events = events.filter(actor_type=actor_type)
    verbs = list(verbs)
    if verbs:
        events = events.filter(verb__in=verbs)
    if target_type:
        own = Q(target_type=target_type)
        subjects = AuditSubject.objects.filter(target_type=target_type)
        if target_id:
            own &= Q(target_id=target_id)
            subjects = subjects.filter(target_id=target_id)
        events = events.filter(own | Q(id__in=subjects.values("event_id")))
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return events


def audit_event_detail(*, event_id: int) -> AuditEvent | None:
    return AuditEvent.objects.select_related("seal").filter(pk=event_id).first()


def audit_event_subjects(*, event: AuditEvent, limit: int = 500) -> list[AuditSubject]:
    return list(AuditSubject.objects.filter(event_id=event.pk).order_by("id")[:limit])


def audit_chain_status() -> dict:
    """What the audit page shows about the chain: the last verification and the head seal.
    (No count of unsealed events: that anti-join reads the whole log; verification has it.)"""
    return {
        "verification": AuditVerification.objects.order_by("-id").first(),
        "head": AuditSeal.objects.order_by("-seq")
        .only("seq", "hash", "key_id", "sealed_at")
        .first(),
    }

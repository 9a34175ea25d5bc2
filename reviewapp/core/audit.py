"""Write, seal and verify the audit log (see models.py for the design)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from . import verbs
from .context import get_request_id
from .models import AuditEvent, AuditSeal, AuditSubject

GENESIS_HASH = "0" * 64
# Any 64-bit key, fixed: serialises sealers on PostgreSQL without blocking writers.
_SEAL_LOCK_KEY = 0x6661696C73616665


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""
    label: str = ""

    @classmethod
    def user(cls, user: Any) -> Actor:
        return cls(AuditEvent.ActorType.USER, str(user.pk), user.get_username())

    @classmethod
    def service(cls, name: str, pk: Any = "") -> Actor:
        return cls(AuditEvent.ActorType.SERVICE, str(pk), name)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(AuditEvent.ActorType.SYSTEM, "", name)


def _target_of(target: Model | tuple[str, Any]) -> tuple[str, str]:
    if isinstance(target, tuple):
        return target[0], str(target[1])
    return target._meta.label_lower, str(target.pk)


# target_type -> ids: the subjects a batch event names (``{"reviewapp.prediction": [4, 5]}``).
Subjects = Mapping[str, Iterable[Any]]


def build_event(
    *,
    actor: Actor,
    verb: str,
    target: Model | tuple[str, Any],
    before: Any = None,
    after: Any = None,
    data: dict | None = None,
    subjects: Subjects | None = None,
) -> AuditEvent:
    """An unsaved event; ``subjects`` are written beside it by audit_record(_many).

    The verb must be registered (core.verbs). ``subjects`` should repeat ids the event's
    ``data`` already lists: the subject rows are an index of the event, outside the chain.
    """
    verbs.check_writable(verb)
    target_type, target_id = _target_of(target)
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        verb=verb,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        data=data or {},
        request_id=get_request_id(),
    )
    event.pending_subjects = [
        (kind, str(pk)) for kind, ids in (subjects or {}).items() for pk in dict.fromkeys(ids)
    ]
    return event


def audit_record(**kwargs: Any) -> AuditEvent:
    """Append one event (and its subject rows). Call inside the service's transaction so it
    commits with the change."""
    event = build_event(**kwargs)
    if not event.pending_subjects:
        event.save(force_insert=True)
        return event
    with _atomic():
        event.save(force_insert=True)
        _write_subjects([event])
    return event


def audit_record_many(events: Iterable[AuditEvent]) -> None:
    """Append built events in one INSERT, and all their subject rows in one more (per chunk
    of the database's parameter limit)."""
    events = list(events)
    if not any(getattr(event, "pending_subjects", None) for event in events):
        AuditEvent.objects.bulk_create(events)
        return
    with _atomic():
        AuditEvent.objects.bulk_create(events)
        _write_subjects(events)


def _atomic() -> AbstractContextManager:
    # Inside the caller's transaction no savepoint: a failed insert fails that transaction
    # anyway, and hot paths (ingest, routing) save two round trips.
    return nullcontext() if connection.in_atomic_block else transaction.atomic()


def _write_subjects(events: list[AuditEvent]) -> None:
    rows = [
        AuditSubject(event_id=event.pk, target_type=kind, target_id=pk)
        for event in events
        for kind, pk in getattr(event, "pending_subjects", ())
    ]
    if rows:
        if any(row.event_id is None for row in rows):
            # bulk_create returns ids on PostgreSQL and SQLite >= 3.35, the databases we run.
            raise RuntimeError("The database did not return the new audit events' ids.")
        AuditSubject.objects.bulk_create(rows)


def canonical_event(event: AuditEvent) -> bytes:
    payload = {
        "id": event.pk,
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(),
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "verb": event.verb,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "before": event.before,
        "after": event.after,
        "data": event.data,
        "request_id": event.request_id,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_event(event)).hexdigest()


def audit_seal(*, limit: int | None = None) -> int:
    """Chain not-yet-sealed events, oldest id first. Returns how many were sealed.

    Runs beside writers: only sealers exclude each other (an advisory lock on PostgreSQL,
    SQLite's single writer elsewhere). An event committed late with a lower id than one
    already sealed is simply sealed in the next batch; the chain order is the seal order.
    """
    limit = limit or settings.AUDIT_SEAL_BATCH
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK_KEY])
        last = AuditSeal.objects.order_by("-seq").only("hash").first()
        prev = last.hash if last else GENESIS_HASH
        pending = list(AuditEvent.objects.filter(seal__isnull=True).order_by("id")[:limit])
        now = timezone.now()
        seals = []
        for event in pending:
            digest = chain_hash(prev, event)
            seals.append(AuditSeal(event_id=event.pk, prev_hash=prev, hash=digest, sealed_at=now))
            prev = digest
        AuditSeal.objects.bulk_create(seals)
    return len(seals)


def audit_seal_all() -> int:
    total = 0
    while sealed := audit_seal():
        total += sealed
    return total


@dataclass
class VerifyReport:
    sealed: int
    unsealed: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_verify(*, chunk: int = 5000) -> VerifyReport:
    """Recompute the whole chain; every mismatch is reported with the seal and event it names."""
    problems: list[str] = []
    prev = GENESIS_HASH
    checked = 0
    last_seq = 0
    while True:
        seals = list(AuditSeal.objects.filter(seq__gt=last_seq).order_by("seq")[:chunk])
        if not seals:
            break
        events = AuditEvent.objects.in_bulk([s.event_id for s in seals])
        for seal in seals:
            checked += 1
            event = events.get(seal.event_id)
            if seal.prev_hash != prev:
                problems.append(
                    f"seal {seal.seq}: chain broken before event {seal.event_id} "
                    "(a seal was removed or reordered)"
                )
            if event is None:
                problems.append(f"seal {seal.seq}: event {seal.event_id} was removed")
            elif chain_hash(seal.prev_hash, event) != seal.hash:
                problems.append(
                    f"seal {seal.seq}: event {seal.event_id} does not match its seal "
                    "(edited or reordered)"
                )
            prev = seal.hash
        last_seq = seals[-1].seq
    unsealed = AuditEvent.objects.filter(seal__isnull=True).count()
    return VerifyReport(sealed=checked, unsealed=unsealed, problems=problems)

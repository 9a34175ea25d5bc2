"""Write, seal and verify the audit log (see models.py for the design).

A seal is HMAC-SHA256 under a key from ``AUDIT_CHAIN_KEYS`` (named by the seal's ``key_id``),
so rewriting an event and recomputing every later seal needs a secret the database does not
hold. Seals written before keys existed have no key id: they are plain sha256 links and keep
verifying, but a plain link after a keyed one is refused (that is what a re-chain without the
key looks like). Checkpoints outside the database (checkpoints.py) catch what the MAC cannot:
a removed tail, and a history re-chained from the start with plain sha256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model

from reviewapp.core import clock

from . import verbs
from .checkpoints import Checkpoint, checkpoint_make, checkpoint_write, checkpoints_read
from .context import get_request_id
from .models import AuditEvent, AuditSeal, AuditSubject, AuditVerification

logger = logging.getLogger(__name__)

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
        occurred_at=clock.now(),
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


class UnknownChainKey(LookupError):
    """A seal names a key id that AUDIT_CHAIN_KEYS does not hold."""


def chain_hash(prev_hash: str, event: AuditEvent, key_id: str = "") -> str:
    """The link of ``event`` after ``prev_hash``: HMAC-SHA256 under key ``key_id``, or plain
    sha256 for a legacy link (no key id)."""
    message = prev_hash.encode() + canonical_event(event)
    if not key_id:
        return hashlib.sha256(message).hexdigest()
    key = settings.AUDIT_CHAIN_KEYS.get(key_id)
    if key is None:
        raise UnknownChainKey(key_id)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def audit_seal(*, limit: int | None = None) -> int:
    """Chain not-yet-sealed events, oldest id first. Returns how many were sealed.

    Runs beside writers: only sealers exclude each other (an advisory lock on PostgreSQL,
    SQLite's single writer elsewhere). An event committed late with a lower id than one
    already sealed is simply sealed in the next batch; the chain order is the seal order.
    Writes no checkpoint: the sealer's runs do (audit_seal_run).
    """
    return _seal_batch(limit=limit)[0]


def _seal_batch(*, limit: int | None = None) -> tuple[int, AuditSeal | None]:
    limit = limit or settings.AUDIT_SEAL_BATCH
    key_id = settings.AUDIT_CHAIN_KEY_ID
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK_KEY])
        last = AuditSeal.objects.order_by("-seq").only("hash").first()
        prev = last.hash if last else GENESIS_HASH
        pending = list(AuditEvent.objects.filter(seal__isnull=True).order_by("id")[:limit])
        now = clock.now()
        seals = []
        for event in pending:
            digest = chain_hash(prev, event, key_id)
            seals.append(
                AuditSeal(
                    event_id=event.pk, prev_hash=prev, hash=digest, key_id=key_id, sealed_at=now
                )
            )
            prev = digest
        AuditSeal.objects.bulk_create(seals)
        head = AuditSeal.objects.order_by("-seq").first() if seals else None
    return len(seals), head


def audit_seal_all() -> int:
    total = 0
    while sealed := audit_seal():
        total += sealed
    return total


def audit_seal_run(*, all_batches: bool = False) -> int:
    """The sealer's run (beat's task, ``manage.py seal_audit``): seal one batch (or every
    pending event), then, if anything was sealed, write a checkpoint of the head outside the
    database. Only the sealer writes checkpoints, so they follow the chain's own pace.

    Call it outside any transaction (the task and the command do): the checkpoint is written
    once the seals committed, and one naming seals that were rolled back would later read as
    a removed tail."""
    total, head = _seal_batch()
    while all_batches and total and (more := _seal_batch())[0]:
        total += more[0]
        head = more[1]
    if total and head is not None:
        checkpoint_write(
            checkpoint_make(seq=head.seq, head_hash=head.hash, key_id=head.key_id, sealed=total)
        )
    return total


@dataclass
class VerifyReport:
    sealed: int
    unsealed: int
    problems: list[str]
    first_bad_seq: int | None = None
    # The checkpoint with the highest sequence number that was read, and where from.
    checkpoint: Checkpoint | None = None
    checkpoint_source: str = ""
    checkpoints_checked: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Findings:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.first_bad_seq: int | None = None

    def add(self, seq: int | None, text: str) -> None:
        self.problems.append(text)
        if seq is not None and (self.first_bad_seq is None or seq < self.first_bad_seq):
            self.first_bad_seq = seq


def audit_verify(*, chunk: int = 5000, checkpoints_path: str | None = None) -> VerifyReport:
    """Recompute the whole chain and hold it to the checkpoints kept outside the database.

    Reports, each naming its sequence number: a seal whose event was edited or removed, a
    broken link (a seal removed or reordered), a seal under an unknown key, a plain sha256
    link after keyed ones, a seal that differs from a checkpoint (a re-chained history), and
    checkpoints beyond the last seal (the tail was removed).
    """
    read = checkpoints_read(checkpoints_path)
    found = _Findings()
    for problem in read.problems:
        found.add(None, problem)
    by_seq: dict[int, list[Checkpoint]] = {}
    for checkpoint in read.checkpoints:
        by_seq.setdefault(checkpoint.seq, []).append(checkpoint)
    notes = []
    if not read.found:
        notes.append(
            f"No checkpoint file at {read.source!r}: a removed tail or a history re-chained "
            "from the start cannot be detected without one."
            if read.source
            else "No checkpoint file configured: a removed tail cannot be detected."
        )

    prev = GENESIS_HASH
    checked = 0
    last_seq = 0
    keyed_seen = False
    seen_checkpoints: set[int] = set()
    while True:
        seals = list(AuditSeal.objects.filter(seq__gt=last_seq).order_by("seq")[:chunk])
        if not seals:
            break
        events = AuditEvent.objects.in_bulk([s.event_id for s in seals])
        for seal in seals:
            checked += 1
            _verify_link(seal, events.get(seal.event_id), prev, keyed_seen, found)
            keyed_seen = keyed_seen or bool(seal.key_id)
            for checkpoint in by_seq.get(seal.seq, ()):
                seen_checkpoints.add(seal.seq)
                if not hmac.compare_digest(checkpoint.hash, seal.hash):
                    found.add(
                        seal.seq,
                        f"seal {seal.seq}: differs from the checkpoint of {checkpoint.at} "
                        "(the history up to here was rewritten and re-chained)",
                    )
            prev = seal.hash
        last_seq = seals[-1].seq
    for seq in sorted(set(by_seq) - seen_checkpoints):
        checkpoint = by_seq[seq][0]
        if seq > last_seq:
            found.add(
                last_seq + 1,
                f"seal {seq}: the checkpoint of {checkpoint.at} names it, but the chain ends at "
                f"seal {last_seq} (the newest sealed events were removed)",
            )
        else:
            found.add(
                seq,
                f"seal {seq}: the checkpoint of {checkpoint.at} names it, but it is missing "
                "(removed)",
            )
    unsealed = AuditEvent.objects.filter(seal__isnull=True).count()
    latest = max(read.checkpoints, key=lambda c: c.seq, default=None)
    return VerifyReport(
        sealed=checked,
        unsealed=unsealed,
        problems=found.problems,
        first_bad_seq=found.first_bad_seq,
        checkpoint=latest,
        checkpoint_source=read.source if read.found else "",
        checkpoints_checked=len(read.checkpoints),
        notes=notes,
    )


def _verify_link(
    seal: AuditSeal, event: AuditEvent | None, prev: str, keyed_seen: bool, found: _Findings
) -> None:
    if seal.prev_hash != prev:
        found.add(
            seal.seq,
            f"seal {seal.seq}: chain broken before event {seal.event_id} "
            "(a seal was removed or reordered)",
        )
    if not seal.key_id and keyed_seen:
        found.add(
            seal.seq,
            f"seal {seal.seq}: a plain sha256 link after keyed ones "
            "(the history was re-chained without the key)",
        )
    if event is None:
        found.add(seal.seq, f"seal {seal.seq}: event {seal.event_id} was removed")
        return
    try:
        expected = chain_hash(seal.prev_hash, event, seal.key_id)
    except UnknownChainKey:
        found.add(
            seal.seq,
            f"seal {seal.seq}: keyed with {seal.key_id!r}, which AUDIT_CHAIN_KEYS does not hold "
            "(a forged seal, or a retired key removed too early)",
        )
        return
    if not hmac.compare_digest(expected, seal.hash):
        found.add(
            seal.seq,
            f"seal {seal.seq}: event {seal.event_id} does not match its seal "
            "(edited, reordered or re-chained)",
        )


def audit_verification_record(
    *, report: VerifyReport, trigger: str, started_at: dt.datetime
) -> AuditVerification:
    """Keep the outcome of one verification for the audit page.

    Not an audit event: a verification changes nothing, and an event per run would leave
    every verification with an unsealed tail of its own.
    """
    checkpoint = report.checkpoint
    return AuditVerification.objects.create(
        started_at=started_at,
        finished_at=clock.now(),
        trigger=trigger,
        ok=report.ok,
        sealed=report.sealed,
        unsealed=report.unsealed,
        first_bad_seq=report.first_bad_seq,
        problems=report.problems[:100],
        checkpoint_source=report.checkpoint_source[:300],
        checkpoint_seq=checkpoint.seq if checkpoint else None,
        checkpoint_hash=checkpoint.hash if checkpoint else "",
        checkpoint_at=checkpoint.at_datetime if checkpoint else None,
        checkpoints_checked=report.checkpoints_checked,
    )


def audit_verify_and_record(*, trigger: str, checkpoints_path: str | None = None) -> VerifyReport:
    started = clock.now()
    report = audit_verify(checkpoints_path=checkpoints_path)
    audit_verification_record(report=report, trigger=trigger, started_at=started)
    if not report.ok:
        logger.error(
            "Audit chain verification found %s problem(s); first bad seal %s: %s",
            len(report.problems),
            report.first_bad_seq,
            report.problems[0],
        )
    return report

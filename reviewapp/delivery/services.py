"""Writes for delivery: fill the outbox, send due deliveries, retry by hand, configure callbacks.

Nothing is ever lost: a final decision becomes an outbox row in a beat task that finds it by
data (no signal, no call from the queue), and a row leaves ``pending`` only through
``delivery_transition``. HTTP is never sent inside a database transaction: a sender first takes
a short lease on due rows (``next_attempt_at`` pushed past the request timeout, plus a claim
token), sends, then records the outcome only if its token still holds the row.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from reviewapp.core import state
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, NotFound, ServiceError
from reviewapp.core.publish import task_publish_on_commit
from reviewapp.core.state import transition
from reviewapp.models import Decision, MLModel

from . import selectors
from .models import Delivery, DeliveryAttempt
from .signing import webhook_headers
from .transport import pinned_session
from .validators import (
    UnsafeCallbackURL,
    check_callback_url,
    generate_callback_secret,
    resolve_callback_url,
    secret_key_bytes,
)

logger = logging.getLogger(__name__)
SENDER = Actor.system("delivery")
# Registered name of the sender task (reviewapp/delivery/tasks.py), published by name.
SEND_TASK = "failsafe.delivery_send"
S = Delivery.Status

# The one table of allowed status changes (core's state machine).
DELIVERY = state.Machine(
    model=Delivery,
    events={
        # A failed attempt with time left: the row stays pending with a later attempt time.
        "reschedule": transition(S.PENDING, S.PENDING, "delivery.delivery.rescheduled"),
        "deliver": transition(S.PENDING, S.DELIVERED, "delivery.delivery.delivered"),
        "fail": transition(S.PENDING, S.FAILED, "delivery.delivery.failed"),
        # The receiver answered 410 Gone.
        "stop": transition(S.PENDING, S.STOPPED, "delivery.delivery.stopped"),
        "skip": transition(S.PENDING, S.SKIPPED, "delivery.delivery.skipped"),
        "cancel": transition(S.PENDING, S.CANCELLED, "delivery.delivery.cancelled"),
        # A lead sends it again, by hand.
        "requeue": transition(
            {S.FAILED, S.STOPPED, S.SKIPPED}, S.PENDING, "delivery.delivery.requeued"
        ),
    },
    snapshot={"status": "status", "attempts": "attempts"},
)
# The sender's outcome -> its event.
SENT_EVENTS = {
    S.PENDING: "reschedule",
    S.DELIVERED: "deliver",
    S.FAILED: "fail",
    S.STOPPED: "stop",
    S.SKIPPED: "skip",
    S.CANCELLED: "cancel",
}
RETRYABLE_BY_HAND = DELIVERY["requeue"].sources
RESPONSE_EXCERPT_BYTES = 1024


def _max_age() -> dt.timedelta:
    return dt.timedelta(hours=settings.WEBHOOK_MAX_AGE_HOURS)


def delivery_transition(
    *,
    delivery: Delivery,
    event: str,
    actor: Actor,
    now: dt.datetime,
    fields: dict[str, Any] | None = None,
    claim_token: uuid.UUID | None = None,
    data: dict | None = None,
) -> bool:
    """Apply one event of ``DELIVERY`` if the row is still as the caller saw it, audited.

    Conditional on the status (and on the claim token when a sender holds the row), so a
    sender whose lease ran out, or a lead's retry racing a sender, cannot overwrite a newer
    state. Returns False if the row moved on meanwhile. Call inside the caller's transaction.
    """
    if not DELIVERY.allows(event, delivery.status):
        raise Conflict(
            _("A %(before)s delivery cannot become %(to)s.")
            % {"before": delivery.status, "to": DELIVERY.target(event)},
            field="status",
        )
    try:
        state.apply(
            DELIVERY,
            instance=delivery,
            event=event,
            actor=actor,
            now=now,
            expect={"claim_token": claim_token} if claim_token is not None else None,
            changes=fields,
            data={"item_id": delivery.item_id, "event_type": delivery.event_type, **(data or {})},
            field="status",
        )
    except Conflict as exc:
        if exc.code == "stale":
            return False  # nothing was written: the newer state stands
        raise
    return True


# --- Filling the outbox ---------------------------------------------------------------------
def _new_row(
    *,
    kind: str,
    model: MLModel,
    item_id: int,
    decision: Decision | None,
    now: dt.datetime,
    token: uuid.UUID,
    build: Any,
) -> Delivery:
    message_id = Delivery.new_message_id()
    has_url = bool(model.callback_url)
    return Delivery(
        message_id=message_id,
        kind=kind,
        event_type=Delivery.EVENT_TYPES[kind],
        model=model,
        item_id=item_id,
        decision=decision,
        payload=build(message_id),
        status=S.PENDING if has_url else S.SKIPPED,
        next_attempt_at=now if has_url else None,
        retry_until=now + _max_age(),
        last_error="" if has_url else _("The model has no callback URL; producers read the feed."),
        finished_at=None if has_url else now,
        created_at=now,
        updated_at=now,
        fill_token=token,
    )


def _audit_fill(*, token: uuid.UUID, rows: list[tuple[int, str, int]], kind: str) -> None:
    """One event per fill; ``items`` runs beside ``deliveries`` (the n-th item is the n-th
    delivery's), so an item's history can follow its deliveries' own events."""
    deliveries = [pk for pk, _status, _item in rows]
    items = [item_id for _pk, _status, item_id in rows]
    audit_record(
        actor=SENDER,
        verb="delivery.delivery.enqueued",
        target=("delivery.fill", token),
        data={
            "kind": kind,
            "deliveries": deliveries,
            "items": items,
            "skipped": sum(1 for _pk, status, _item in rows if status == S.SKIPPED),
            "cancelled": sum(1 for _pk, status, _item in rows if status == S.CANCELLED),
        },
        subjects={Delivery._meta.label_lower: deliveries, "reviewapp.reviewitem": items},
    )


def _enqueue_decisions_chunk(*, now: dt.datetime, limit: int) -> tuple[int, int]:
    with transaction.atomic():
        decisions = list(selectors.decisions_to_enqueue(now=now)[:limit])
        if not decisions:
            return 0, 0
        token = uuid.uuid4()
        rows = [
            _new_row(
                kind=Delivery.Kind.DECISION,
                model=d.model,
                item_id=d.item_id,
                decision=d,
                now=now,
                token=token,
                build=lambda mid, d=d: selectors.decision_payload(d, message_id=mid, now=now),
            )
            for d in decisions
        ]
        # A concurrent fill may insert the same decisions: the unique constraint keeps one row
        # and ON CONFLICT DO NOTHING drops ours; the token tells us which rows are ours.
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        inserted = list(
            Delivery.objects.filter(
                decision_id__in=[d.pk for d in decisions], fill_token=token
            ).values_list("id", "status", "item_id")
        )
        if inserted:
            _audit_fill(token=token, rows=inserted, kind=Delivery.Kind.DECISION)
    return len(decisions), len(inserted)


def _enqueue_timeouts_chunk(*, now: dt.datetime, limit: int) -> tuple[int, int]:
    with transaction.atomic():
        items = list(selectors.items_timed_out_to_enqueue()[:limit])
        if not items:
            return 0, 0
        decided = set(
            Decision.objects.filter(
                item_id__in=[i.pk for i in items],
                action__in=Decision.FINAL_ACTIONS,
                undone_at__isnull=True,
            ).values_list("item_id", flat=True)
        )
        token = uuid.uuid4()
        rows = []
        for item in items:
            row = _new_row(
                kind=Delivery.Kind.TIMED_OUT,
                model=item.model,
                item_id=item.pk,
                decision=None,
                now=now,
                token=token,
                build=lambda mid, i=item: selectors.timed_out_payload(i, message_id=mid, now=now),
            )
            if item.pk in decided:
                # Telling the producer to fall back after a human already decided would only
                # confuse it; the row stays visible in the log.
                row.status = S.CANCELLED
                row.next_attempt_at = None
                row.finished_at = now
                row.last_error = _("The item was decided before the time-out notice went out.")
            rows.append(row)
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        inserted = list(
            Delivery.objects.filter(
                item_id__in=[i.pk for i in items],
                kind=Delivery.Kind.TIMED_OUT,
                fill_token=token,
            ).values_list("id", "status", "item_id")
        )
        if inserted:
            _audit_fill(token=token, rows=inserted, kind=Delivery.Kind.TIMED_OUT)
    return len(items), len(inserted)


@dataclass
class FillReport:
    decisions: int = 0
    timed_out: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.decisions + self.timed_out


def deliveries_enqueue(
    *, now: dt.datetime | None = None, batch_size: int | None = None, max_batches: int = 20
) -> FillReport:
    """Put released final decisions and SLA breaches into the outbox. Idempotent."""
    now = now or timezone.now()
    limit = batch_size or settings.WEBHOOK_FILL_BATCH
    report = FillReport()
    for chunk, attr in (
        (_enqueue_decisions_chunk, "decisions"),
        (_enqueue_timeouts_chunk, "timed_out"),
    ):
        for _batch in range(max_batches):
            seen, inserted = chunk(now=now, limit=limit)
            setattr(report, attr, getattr(report, attr) + inserted)
            if seen < limit:
                break
    if report.total:
        report.pending = Delivery.objects.filter(status=S.PENDING, next_attempt_at__lte=now).count()
    return report


# --- Sending --------------------------------------------------------------------------------
def retry_delay(attempt: int, *, rng: random.Random | None = None) -> dt.timedelta:
    """Exponential backoff with proportional jitter: base * 2^(attempt-1), capped, +/- jitter."""
    rng = rng or random
    base = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0)
    delay = min(float(settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS), base)
    spread = settings.WEBHOOK_RETRY_JITTER
    return dt.timedelta(seconds=delay * rng.uniform(1 - spread, 1 + spread))


def deliveries_claim_due(*, now: dt.datetime, limit: int) -> tuple[list[int], uuid.UUID]:
    """Take a lease on up to ``limit`` due rows; other senders skip them until it ends."""
    token = uuid.uuid4()
    lease_until = now + dt.timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 2 + 30)
    due = Delivery.objects.filter(status=S.PENDING, next_attempt_at__lte=now).order_by(
        "next_attempt_at", "id"
    )
    if connection.vendor == "postgresql":
        with transaction.atomic():
            ids = list(due.select_for_update(skip_locked=True).values_list("id", flat=True)[:limit])
            if ids:
                Delivery.objects.filter(id__in=ids).update(
                    claim_token=token, next_attempt_at=lease_until, updated_at=now
                )
        return ids, token
    # Elsewhere: a conditional UPDATE per candidate; whoever changes the row first holds it.
    claimed = []
    for pk, due_at in due.values_list("id", "next_attempt_at")[:limit]:
        if Delivery.objects.filter(pk=pk, status=S.PENDING, next_attempt_at=due_at).update(
            claim_token=token, next_attempt_at=lease_until, updated_at=now
        ):
            claimed.append(pk)
    return claimed, token


@dataclass
class HttpResult:
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""
    url: str = ""
    duration_ms: int = 0


def _post(*, delivery: Delivery, url: str, secret: str, at: dt.datetime) -> HttpResult:
    result = HttpResult(url=url)
    started = time.monotonic()
    try:
        # Resolve once, check, and connect to exactly that address (transport.py).
        target = resolve_callback_url(url)
        key = secret_key_bytes(secret)
        body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers = webhook_headers(
            key=key, message_id=delivery.message_id, timestamp=int(at.timestamp()), body=body
        )
        headers["User-Agent"] = "Failsafe-Webhooks/1.0"
        headers["Host"] = target.netloc
        timeout = settings.WEBHOOK_TIMEOUT_SECONDS
        # No redirects: a redirect could lead to an address the URL check never saw.
        with (
            pinned_session(target) as session,
            session.post(
                url,
                data=body,
                headers=headers,
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            ) as response,
        ):
            result.status_code = response.status_code
            chunk = next(response.iter_content(RESPONSE_EXCERPT_BYTES), b"")
            result.excerpt = chunk[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace")
            if not 200 <= response.status_code < 300:
                result.error = _("The receiver answered HTTP %(code)s.") % {
                    "code": response.status_code
                }
    except UnsafeCallbackURL as exc:
        result.error = _("Refused to call the URL: %(why)s") % {"why": exc}
    except ValueError as exc:
        result.error = _("Cannot sign: %(why)s") % {"why": exc}
    except requests.Timeout:
        result.error = _("No answer within %(s)s seconds.") % {
            "s": settings.WEBHOOK_TIMEOUT_SECONDS
        }
    except requests.RequestException as exc:
        result.error = _("Could not connect: %(why)s") % {"why": exc.__class__.__name__}
        logger.info("Delivery %s: %s", delivery.pk, exc)
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def _standing_decision_exists(item_id: int) -> bool:
    return Decision.objects.filter(
        item_id=item_id, action__in=Decision.FINAL_ACTIONS, undone_at__isnull=True
    ).exists()


def delivery_send(
    *,
    delivery_id: int,
    claim_token: uuid.UUID,
    now: dt.datetime | None = None,
    rng: random.Random | None = None,
) -> str:
    """Send one claimed delivery and record the attempt. Returns the resulting status.

    Re-checks everything that may have changed since the row was written: the decision may
    have been undone, the item decided, the callback URL changed or now resolving elsewhere.
    """
    now = now or timezone.now()
    delivery = Delivery.objects.select_related("model", "decision").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != S.PENDING or delivery.claim_token != claim_token:
        return "lost"
    release = {"claim_token": None, "next_attempt_at": None, "finished_at": now}
    cancel_reason = ""
    if delivery.decision is not None and delivery.decision.undone_at is not None:
        cancel_reason = _("The decision was undone.")
    elif delivery.kind == Delivery.Kind.TIMED_OUT and _standing_decision_exists(delivery.item_id):
        cancel_reason = _("The item was decided before the time-out notice went out.")
    if cancel_reason or not delivery.model.callback_url:
        to = S.CANCELLED if cancel_reason else S.SKIPPED
        error = cancel_reason or _("The model has no callback URL; producers read the feed.")
        with transaction.atomic():
            delivery_transition(
                delivery=delivery,
                event=SENT_EVENTS[to],
                actor=SENDER,
                now=now,
                claim_token=claim_token,
                fields={**release, "last_error": error},
            )
        return delivery.status

    http = _post(
        delivery=delivery,
        url=delivery.model.callback_url,
        secret=delivery.model.callback_secret,
        at=now,
    )
    number = delivery.attempts + 1
    code = http.status_code
    fields: dict[str, Any] = {
        "attempts": number,
        "last_error": http.error,
        "last_status_code": code,
        "last_attempt_at": now,
        "claim_token": None,
    }
    if code is not None and 200 <= code < 300:
        to, outcome = S.DELIVERED, DeliveryAttempt.Outcome.DELIVERED
        fields.update(next_attempt_at=None, delivered_at=now, finished_at=now)
    elif code == 410:
        to, outcome = S.STOPPED, DeliveryAttempt.Outcome.STOPPED
        fields.update(next_attempt_at=None, finished_at=now)
    else:
        next_at = now + retry_delay(number, rng=rng)
        retry_until = delivery.retry_until or (delivery.created_at + _max_age())
        if next_at > retry_until:
            to, outcome = S.FAILED, DeliveryAttempt.Outcome.FAILED
            fields.update(next_attempt_at=None, finished_at=now)
        else:
            to, outcome = S.PENDING, DeliveryAttempt.Outcome.RETRY
            fields.update(next_attempt_at=next_at)
    with transaction.atomic():
        if not delivery_transition(
            delivery=delivery,
            event=SENT_EVENTS[to],
            actor=SENDER,
            now=now,
            claim_token=claim_token,
            fields=fields,
            data={"status_code": code, "error": http.error},
        ):
            # Our lease ran out and another sender took the row: its record wins. The receiver
            # may see this message twice, which `webhook-id` lets it ignore.
            return "lost"
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=now,
            duration_ms=http.duration_ms,
            url=http.url,
            status_code=code,
            error=http.error,
            response_excerpt=http.excerpt,
            outcome=outcome,
            next_attempt_at=fields["next_attempt_at"],
        )
    return to


@dataclass
class SendReport:
    claimed: int = 0
    results: dict[str, int] = field(default_factory=dict)


def deliveries_send_due(
    *,
    now: dt.datetime | None = None,
    batch_size: int | None = None,
    time_budget: float | None = None,
    rng: random.Random | None = None,
) -> SendReport:
    """Send every due delivery, batch by batch, until none is due or the time budget is spent.

    Rows claimed but not sent (the task was killed) come back when their lease ends.
    """
    limit = batch_size or settings.WEBHOOK_SEND_BATCH
    budget = settings.WEBHOOK_SEND_BUDGET_SECONDS if time_budget is None else time_budget
    deadline = time.monotonic() + budget
    report = SendReport()
    while time.monotonic() < deadline:
        ids, token = deliveries_claim_due(now=now or timezone.now(), limit=limit)
        report.claimed += len(ids)
        for pk in ids:
            status = delivery_send(delivery_id=pk, claim_token=token, now=now, rng=rng)
            report.results[status] = report.results.get(status, 0) + 1
        if len(ids) < limit:
            break
    return report


# --- By hand --------------------------------------------------------------------------------
def delivery_retry_now(*, delivery_id: int, user: Any) -> Delivery:
    """A lead sends a failed, stopped or skipped delivery again, with a fresh retry window."""
    now = timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_related("model").filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFound(_("No such delivery."), field="delivery")
        if delivery.status not in RETRYABLE_BY_HAND:
            raise Conflict(
                _("Only failed, stopped or skipped deliveries can be retried; this one is %(s)s.")
                % {"s": delivery.get_status_display()},
                field="status",
            )
        if not delivery.model.callback_url:
            raise Conflict(
                _("Set a callback URL for %(model)s first.") % {"model": delivery.model.slug},
                field="callback_url",
            )
        changed = delivery_transition(
            delivery=delivery,
            event="requeue",
            actor=Actor.user(user),
            now=now,
            fields={
                "next_attempt_at": now,
                "retry_until": now + _max_age(),
                "finished_at": None,
                "claim_token": None,
            },
            data={"by_hand": True},
        )
        if not changed:
            raise Conflict(_("The delivery changed meanwhile; reload and try again."))
        # Send now rather than on the next beat tick; if the broker is down, beat sends it.
        task_publish_on_commit(SEND_TASK)
    return delivery


# --- Callback settings ----------------------------------------------------------------------
def model_callback_configure(
    *,
    model: MLModel,
    callback_url: str,
    callback_secret: str = "",
    rotate_secret: bool = False,
    actor: Actor,
) -> str | None:
    """Set a model's callback URL (checked for safety) and signing secret.

    Returns a newly generated secret (to show once), or None. A URL without any secret gets
    one generated: deliveries are never sent unsigned. The secret itself is never audited.
    """
    errors: dict[str, list[str]] = {}
    if callback_url:
        try:
            check_callback_url(callback_url)
        except UnsafeCallbackURL as exc:
            errors["callback_url"] = [str(exc)]
    if callback_secret:
        try:
            secret_key_bytes(callback_secret)
        except ValueError as exc:
            errors["callback_secret"] = [str(exc)]
    if errors:
        raise ServiceError(next(iter(errors.values()))[0], errors=errors)
    with transaction.atomic():
        model = MLModel.objects.select_for_update().get(pk=model.pk)
        before = {"callback_url": model.callback_url, "has_secret": bool(model.callback_secret)}
        generated = None
        if callback_secret:
            model.callback_secret = callback_secret
        elif rotate_secret or (callback_url and not model.callback_secret):
            generated = model.callback_secret = generate_callback_secret()
        model.callback_url = callback_url
        model.save(update_fields=["callback_url", "callback_secret"])
        audit_record(
            actor=actor,
            verb="delivery.callback.configured",
            target=model,
            before=before,
            after={"callback_url": model.callback_url, "has_secret": bool(model.callback_secret)},
            data={"secret_changed": bool(callback_secret or generated)},
        )
    return generated

"""Sending: claim due deliveries, send each, retry with backoff, and a lead's retry by hand.

HTTP is never sent inside a database transaction: a sender first takes a short lease on due
rows (``next_attempt_at`` pushed past the request timeout, plus a claim token), sends, then
records the outcome only if its token still holds the row.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext as _

from reviewapp.core import clock
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict, NotFound
from reviewapp.core.publish import task_publish_on_commit
from reviewapp.models import Decision

from ..models import Delivery, DeliveryAttempt
from ..transport import signed_post
from ..validators import UnsafeCallbackURL, resolve_callback_url, secret_key_bytes
from .outbox import RETRYABLE_BY_HAND, SENDER, SENT_EVENTS, S, delivery_transition, max_age

logger = logging.getLogger(__name__)

# Registered name of the sender task (reviewapp/delivery/tasks.py), published by name.
SEND_TASK = "failsafe.delivery_send"

RESPONSE_EXCERPT_BYTES = 1024


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
        code, excerpt = signed_post(
            url=url,
            target=target,
            key=key,
            message_id=delivery.message_id,
            payload=delivery.payload,
            at=at,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            excerpt_bytes=RESPONSE_EXCERPT_BYTES,
        )
        result.status_code = code
        result.excerpt = excerpt.decode("utf-8", "replace")
        if not 200 <= code < 300:
            result.error = _("The receiver answered HTTP %(code)s.") % {"code": code}
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
    now = now or clock.now()
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
        retry_until = delivery.retry_until or (delivery.created_at + max_age())
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
        ids, token = deliveries_claim_due(now=now or clock.now(), limit=limit)
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
    now = clock.now()
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
                "retry_until": now + max_age(),
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

"""Writes for delivery: fill the outbox, send due deliveries, retry by hand, configure callbacks.

Nothing is ever lost: a final decision becomes an outbox row in a beat task that finds it by
data (no signal, no call from the queue), and a row leaves ``pending`` only through
``delivery_transition``. HTTP is never sent inside a database transaction: a sender first takes
a short lease on due rows (``next_attempt_at`` pushed past the request timeout, plus a claim
token), sends, then records the outcome only if its token still holds the row.

By area: ``outbox`` (the DELIVERY state machine, filling the outbox), ``sending`` (claiming due
rows, sending, backoff, a lead's retry by hand), ``callbacks`` (a model's callback URL and
secret). This package re-exports their public names, so callers import from here.
"""

from .callbacks import model_callback_configure
from .outbox import (
    DELIVERY,
    RETRYABLE_BY_HAND,
    SENDER,
    SENT_EVENTS,
    FillReport,
    S,
    deliveries_enqueue,
    delivery_transition,
    mode_change_enqueue,
)
from .sending import (
    RESPONSE_EXCERPT_BYTES,
    SEND_TASK,
    HttpResult,
    SendReport,
    deliveries_claim_due,
    deliveries_send_due,
    delivery_retry_now,
    delivery_send,
    retry_delay,
)

__all__ = [
    "DELIVERY",
    "FillReport",
    "HttpResult",
    "RESPONSE_EXCERPT_BYTES",
    "RETRYABLE_BY_HAND",
    "S",
    "SENDER",
    "SEND_TASK",
    "SENT_EVENTS",
    "SendReport",
    "deliveries_claim_due",
    "deliveries_enqueue",
    "deliveries_send_due",
    "delivery_retry_now",
    "delivery_send",
    "delivery_transition",
    "mode_change_enqueue",
    "model_callback_configure",
    "retry_delay",
]

"""Reads for delivery: released final decisions, their representation, the outbox views."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from reviewapp.core import clock
from reviewapp.core.time import iso_utc
from reviewapp.models import Decision, Purpose, ReviewItem
from reviewapp.selectors.purposes import LABELS, is_correction, producer_q
from reviewapp.selectors.visibility import review_items_visible_to, visible_model_ids

from .models import Delivery, DeliveryAttempt

RELEASE_SETTLE = dt.timedelta(seconds=2)
OUTCOMES = {Decision.Action.ACCEPT: "accepted", Decision.Action.OVERRIDE: "overridden"}
CORRECTED = "corrected"
MADE_TYPE, CORRECTED_TYPE = "decision.made", "decision.corrected"


def released_decisions(*, now: dt.datetime | None = None) -> QuerySet[Decision]:
    """Final decisions that stand: accept/override, not undone, past their undo grace period.

    The same set is delivered by webhook, served by the feed and exported as labels, so a
    producer never sees a decision that is later undone.
    """
    # A moment's settle time: an undo that started just before the grace period ended has
    # committed by then, so a decision is never released and then undone.
    cutoff = (now or clock.now()) - RELEASE_SETTLE
    return (
        Decision.objects.filter(
            action__in=Decision.FINAL_ACTIONS,
            undone_at__isnull=True,
            # Held for a blind second review or an adjudication (reviewapp/quality).
            held=False,
        )
        .filter(
            Q(deliver_after__lte=cutoff) | Q(deliver_after__isnull=True, decided_at__lte=cutoff)
        )
        .select_related("model", "item", "prediction", "prediction__policy_version", "reviewer")
    )


def producer_decisions(*, now: dt.datetime | None = None) -> QuerySet[Decision]:
    """The released decisions a producer hears of, by webhook and in the feed alike: routed
    items' decisions and corrections of what passed (``purposes.producer_q``). An accept on a
    sample, a halted model's sample, a second review, gold and qualification are not among
    them."""
    return released_decisions(now=now).filter(producer_q())


def label_decisions(*, now: dt.datetime | None = None) -> QuerySet[Decision]:
    """The released decisions that are labels for retraining (``purposes.LABELS``): never gold
    or qualification, nor a second review (adjudication says which label stands)."""
    return released_decisions(now=now).filter(item__purpose__in=LABELS)


def corrects(decision: Decision) -> bool:
    """Whether ``decision`` overturns a prediction routing let pass (``decision.corrected``)."""
    return is_correction(
        purpose=decision.item.purpose, action=decision.action, prediction=decision.prediction
    )


def decision_representation(decision: Decision) -> dict[str, Any]:
    """A decision as producers read it. ``type`` says which event it is (a correction of a
    passed prediction is ``decision.corrected``, its outcome ``corrected``); ``purpose`` why
    the item existed."""
    prediction = decision.prediction
    policy = prediction.policy_version
    correction = corrects(decision)
    return {
        "type": CORRECTED_TYPE if correction else MADE_TYPE,
        "purpose": decision.item.purpose,
        "decision_id": decision.pk,
        "item_id": decision.item_id,
        "prediction_id": prediction.pk,
        "model": decision.model.slug,
        "model_version": prediction.model_version,
        "external_id": prediction.external_id,
        "model_label": prediction.label,
        "model_confidence": decision.model_confidence,
        "action": decision.action,
        "outcome": CORRECTED if correction else OUTCOMES.get(decision.action, decision.action),
        "final_label": decision.final_label,
        "final_output": decision.final_output,
        "reason": decision.reason,
        "failure_mode_tags": decision.failure_mode_tags,
        "reviewer": decision.reviewer.get_username(),
        "decided_at": iso_utc(decision.decided_at),
        "policy_version": policy.version if policy else None,
        "policy_hash": prediction.policy_hash or None,
    }


def export_row(decision: Decision) -> dict[str, Any]:
    """One label row: what the model saw and said, and what the human decided."""
    prediction = decision.prediction
    row = decision_representation(decision)
    return {
        "decision_id": row["decision_id"],
        "prediction_id": row["prediction_id"],
        "model": row["model"],
        "model_version": row["model_version"],
        "external_id": row["external_id"],
        "input": prediction.input,
        "model_output": prediction.output,
        "model_label": row["model_label"],
        "model_confidence": row["model_confidence"],
        "final_label": row["final_label"],
        "final_output": row["final_output"],
        "outcome": row["outcome"],
        "reviewer": row["reviewer"],
        "reason": row["reason"],
        "failure_mode_tags": row["failure_mode_tags"],
        "decided_at": row["decided_at"],
        "policy_version": row["policy_version"],
        "policy_hash": row["policy_hash"],
        "purpose": row["purpose"],
    }


def decision_payload(decision: Decision, *, message_id: str, now: dt.datetime) -> dict:
    """The body of a ``decision.made`` or ``decision.corrected`` event."""
    data = decision_representation(decision)
    return {
        "type": data["type"],
        "timestamp": iso_utc(now),
        "data": {"delivery_id": message_id, **data},
    }


def timed_out_payload(item: ReviewItem, *, message_id: str, now: dt.datetime) -> dict:
    prediction = item.prediction
    policy = prediction.policy_version
    return {
        "type": "review.timed_out",
        "timestamp": iso_utc(now),
        "data": {
            "delivery_id": message_id,
            "item_id": item.pk,
            "prediction_id": prediction.pk,
            "model": item.model.slug,
            "model_version": prediction.model_version,
            "external_id": prediction.external_id,
            "model_label": prediction.label,
            "model_confidence": prediction.confidence,
            "sla_due_at": iso_utc(item.sla_due_at),
            "sla_breached_at": iso_utc(item.sla_breached_at),
            # What the producer should do meanwhile; a decision may still follow.
            "fallback": prediction.fallback,
            "policy_version": policy.version if policy else None,
            "policy_hash": prediction.policy_hash or None,
        },
    }


def decisions_to_enqueue(*, now: dt.datetime) -> QuerySet[Decision]:
    return producer_decisions(now=now).filter(deliveries__isnull=True).order_by("id")


def items_timed_out_to_enqueue() -> QuerySet[ReviewItem]:
    """Routed items past their SLA: the producer is waiting for them. A sample's producer is
    not (it already used the model's output, or a halted model's fallback)."""
    return (
        ReviewItem.objects.filter(sla_breached_at__isnull=False, purpose=Purpose.ROUTED)
        .exclude(deliveries__kind=Delivery.Kind.TIMED_OUT)
        .select_related("model", "prediction", "prediction__policy_version")
        .order_by("id")
    )


def _deliveries_visible_to(user: Any) -> QuerySet[Delivery]:
    """A delivery carries a decision: the decisions' visibility rule, by model."""
    visible = visible_model_ids(user)
    qs = Delivery.objects.all()
    return qs if visible is None else qs.filter(model_id__in=visible)


def deliveries_list(*, user: Any, status: str = "", model_slug: str = "") -> QuerySet[Delivery]:
    qs = _deliveries_visible_to(user).select_related("model").defer("payload")
    if status:
        qs = qs.filter(status=status)
    if model_slug:
        qs = qs.filter(model__slug=model_slug)
    return qs.order_by("-id")


def delivery_status_counts(*, user: Any, model_slug: str = "") -> dict[str, int]:
    qs = _deliveries_visible_to(user)
    if model_slug:
        qs = qs.filter(model__slug=model_slug)
    counts = {row["status"]: row["n"] for row in qs.values("status").annotate(n=Count("id"))}
    return {value: counts.get(value, 0) for value in Delivery.Status.values}


def deliveries_for_item(*, item_id: int) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(item_id=item_id)
        .select_related("model", "decision", "decision__reviewer")
        .prefetch_related(
            Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number"))
        )
        .order_by("id")
    )


def item_for_log(*, user: Any, item_id: int) -> ReviewItem | None:
    """The item if ``user`` may read it (the queue's rule), else None: a 404 to the page."""
    return (
        review_items_visible_to(user)
        .select_related("model", "prediction")
        .filter(pk=item_id)
        .first()
    )

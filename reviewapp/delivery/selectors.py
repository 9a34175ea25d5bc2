"""Reads for delivery: released final decisions, their representation, the outbox views."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce

from reviewapp.core import clock, registry
from reviewapp.core.time import iso_utc
from reviewapp.governance.rules import QA_SAMPLE
from reviewapp.models import Decision, Purpose, ReviewItem
from reviewapp.selectors.ingest import payload_value
from reviewapp.selectors.purposes import LABELS, is_correction, producer_q
from reviewapp.selectors.visibility import review_items_visible_to, visible_model_ids

from .models import Delivery, DeliveryAttempt

RELEASE_SETTLE = dt.timedelta(seconds=2)
OUTCOMES = {Decision.Action.ACCEPT: "accepted", Decision.Action.OVERRIDE: "overridden"}
CORRECTED = "corrected"
MADE_TYPE, CORRECTED_TYPE = "decision.made", "decision.corrected"
# --- labels (review quality) ---
# Asked once per page or batch of decisions: {decision_id: {field: value}} from each provider
# (reviewapp.quality.selectors.labels), so delivery never imports the quality app.
LABEL_ANNOTATIONS_HOOK = "delivery.label_annotations"
# What a decision carries when no provider says otherwise: a single review, no gold figure.
LABEL_DEFAULTS: dict[str, Any] = {
    "double_reviewed": False,
    "adjudicated": False,
    "agreement": None,
    "reviewer_gold_accuracy": None,
    "reviewer_gold_n": 0,
}
SELECTIONS = ("routed", "qa_sample", "shift_sample", "mode_sample", "incident_recheck")
AGREEMENTS = ("agreed", "disagreed")
# --- end labels ---


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


# --- labels: the feed's order ---
# A decision reaches the feed when it is released: at ``deliver_after`` (the end of its undo
# grace period, or the moment a held decision was released after a second review) or, for rows
# without one, when it was decided. The feed is ordered by that moment, then id, so a decision
# held for a second review and released late comes after the cursor of what was already read,
# not before it (an id-only cursor would skip it). Index: reviewapp 0018_labels_feed_order.
RELEASED_AT = Coalesce(F("deliver_after"), F("decided_at"))


def feed_ordered(qs: QuerySet[Decision]) -> QuerySet[Decision]:
    return qs.annotate(released_at=RELEASED_AT).order_by("released_at", "id")


def feed_after(
    qs: QuerySet[Decision], *, after: tuple[dt.datetime, int] | None
) -> QuerySet[Decision]:
    """``qs`` in feed order, strictly after the position ``after`` (release time, id)."""
    qs = feed_ordered(qs)
    if after is None:
        return qs
    released_at, decision_id = after
    return qs.filter(
        Q(released_at__gt=released_at) | Q(released_at=released_at, id__gt=decision_id)
    )


def feed_position(*, decision_id: int) -> tuple[dt.datetime, int]:
    """Where an old id-only cursor stands: that decision's place in the order. ValueError when
    there is no such decision."""
    row = (
        Decision.objects.filter(pk=decision_id)
        .annotate(released_at=RELEASED_AT)
        .values_list("released_at", flat=True)
        .first()
    )
    if row is None:
        raise ValueError(decision_id)
    return row, decision_id


# --- end labels ---


def corrects(decision: Decision) -> bool:
    """Whether ``decision`` overturns a prediction routing let pass (``decision.corrected``)."""
    return is_correction(
        purpose=decision.item.purpose, action=decision.action, prediction=decision.prediction
    )


def selection(*, purpose: str, reason_codes: list[str]) -> str:
    """How the prediction came to be reviewed, for reweighting labels against the selection
    bias: a routed item whose only reason is the random QA sample is ``qa_sample`` (an unbiased
    sample of confident predictions); other purposes are named by themselves."""
    if purpose == Purpose.ROUTED:
        return "qa_sample" if list(reason_codes or []) == [QA_SAMPLE] else "routed"
    return str(purpose)


def label_annotations(decisions: list[Decision]) -> dict[int, dict[str, Any]]:
    """Per decision: how far to trust it as a label (``LABEL_DEFAULTS``' keys, filled in by
    the providers of ``LABEL_ANNOTATIONS_HOOK``) and why it was reviewed (``routing_reason``,
    ``selection``).
    One call per page or batch: each provider reads its figures for the whole batch at once."""
    found: dict[int, dict[str, Any]] = {}
    for provided in registry.run_hooks(LABEL_ANNOTATIONS_HOOK, decisions=decisions):
        for pk, extra in provided.items():
            found.setdefault(pk, {}).update(extra)
    out = {}
    for d in decisions:
        codes = list(d.prediction.reason_codes or [])
        out[d.pk] = {
            "routing_reason": codes,
            "selection": selection(purpose=d.item.purpose, reason_codes=codes),
            **LABEL_DEFAULTS,
            **found.get(d.pk, {}),
        }
    return out


def decision_representation(
    decision: Decision, *, annotations: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A decision as producers read it. ``type`` says which event it is (a correction of a
    passed prediction is ``decision.corrected``, its outcome ``corrected``); ``purpose`` why
    the item existed. ``annotations``: this decision's entry of :func:`label_annotations`
    (computed here for one decision when the caller did not compute a batch)."""
    if annotations is None:
        annotations = label_annotations([decision])[decision.pk]
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
        # Appended (the contract above is fixed): how far to trust this label, and why the
        # prediction was reviewed (docs/quality/labels.md).
        "routing_reason": annotations["routing_reason"],
        "selection": annotations["selection"],
        "double_reviewed": annotations["double_reviewed"],
        "adjudicated": annotations["adjudicated"],
        "agreement": annotations["agreement"],
        "reviewer_gold_accuracy": annotations["reviewer_gold_accuracy"],
        "reviewer_gold_n": annotations["reviewer_gold_n"],
    }


LABEL_COLUMNS = (
    "routing_reason",
    "selection",
    "double_reviewed",
    "adjudicated",
    "agreement",
    "reviewer_gold_accuracy",
    "reviewer_gold_n",
)


def export_row(decision: Decision, *, annotations: dict[str, Any] | None = None) -> dict[str, Any]:
    """One label row: what the model saw and said, and what the human decided."""
    prediction = decision.prediction
    row = decision_representation(decision, annotations=annotations)
    return {
        "decision_id": row["decision_id"],
        "prediction_id": row["prediction_id"],
        "model": row["model"],
        "model_version": row["model_version"],
        "external_id": row["external_id"],
        # Null once the model's retention policy removed the payload.
        "input": payload_value(prediction, "input"),
        "model_output": payload_value(prediction, "output"),
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
        **{column: row[column] for column in LABEL_COLUMNS},
    }


def decision_payload(
    decision: Decision,
    *,
    message_id: str,
    now: dt.datetime,
    annotations: dict[str, Any] | None = None,
) -> dict:
    """The body of a ``decision.made`` or ``decision.corrected`` event."""
    data = decision_representation(decision, annotations=annotations)
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

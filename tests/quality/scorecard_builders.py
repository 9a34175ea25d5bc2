"""Rows for the agreement and scorecard tests, written straight to the tables: the selectors
read what the gold, second-review and adjudication services write, and this part of issue 17
tests the reading, not those services."""

from __future__ import annotations

import datetime as dt
import itertools

from reviewapp.core import clock
from reviewapp.models import Decision, Prediction, Purpose, ReviewItem
from reviewapp.quality.models import GoldItem, GoldServing, SecondReview

_ids = itertools.count(1)


def prediction(model, label: str, *, confidence: float = 0.6) -> Prediction:
    now = clock.now()
    return Prediction.objects.create(
        model=model,
        external_id=f"sc-{next(_ids)}",
        model_version="1.0",
        input={"amount": 10},
        output={"label": label},
        label=label,
        confidence=confidence,
        occurred_at=now,
        received_at=now,
        status="routed",
        routed=True,
    )


def item(pred: Prediction, purpose: str = Purpose.ROUTED, *, for_reviewer=None) -> ReviewItem:
    return ReviewItem.objects.create(
        prediction=pred,
        model=pred.model,
        purpose=purpose,
        status=ReviewItem.Status.DECIDED,
        sla_due_at=clock.now(),
        for_reviewer=for_reviewer,
    )


def decide(
    it: ReviewItem,
    reviewer,
    label: str,
    *,
    seconds: float = 30.0,
    at: dt.datetime | None = None,
    undone: bool = False,
) -> Decision:
    """A final decision: accept when ``label`` is the model's, else override."""
    pred = it.prediction
    at = at or clock.now()
    return Decision.objects.create(
        item=it,
        prediction=pred,
        model=pred.model,
        reviewer=reviewer,
        action=Decision.Action.ACCEPT if label == pred.label else Decision.Action.OVERRIDE,
        predicted_label=pred.label,
        final_label=label,
        model_confidence=pred.confidence,
        decided_at=at,
        claimed_at=at - dt.timedelta(seconds=seconds),
        undone_at=at if undone else None,
    )


def second_review(
    model,
    first_reviewer,
    first_label: str,
    second_reviewer,
    second_label: str,
    *,
    model_label: str,
    final_label: str = "",
    lead=None,
) -> SecondReview:
    """A routed decision and its blind second review; adjudicated by ``lead`` (a decision of
    theirs on the routed item) when the two differ and ``final_label`` is given."""
    pred = prediction(model, model_label)
    routed = item(pred)
    first = decide(routed, first_reviewer, first_label)
    second_item = item(pred, Purpose.SECOND_REVIEW)
    second = decide(second_item, second_reviewer, second_label)
    status = SecondReview.Status.AGREED
    if first_label != second_label:
        status = (
            SecondReview.Status.ADJUDICATED if final_label else SecondReview.Status.ADJUDICATING
        )
    sr = SecondReview.objects.create(
        model=model,
        prediction=pred,
        first_decision=first,
        second_item=second_item,
        second_decision=second,
        why=SecondReview.Why.SAMPLED,
        status=status,
    )
    if status == SecondReview.Status.ADJUDICATED:
        final = decide(routed, lead, final_label)
        SecondReview.objects.filter(pk=sr.pk).update(
            adjudicated_by=lead,
            adjudicated_at=clock.now(),
            final_label=final_label,
            final_decision=final,
            closed_at=clock.now(),
        )
        sr.refresh_from_db()
    return sr


def gold(model, lead, *, label: str, model_label: str) -> GoldItem:
    pred = prediction(model, model_label)
    source = item(pred)
    decide(source, lead, label)
    return GoldItem.objects.create(
        model=model,
        prediction=pred,
        source_item=source,
        label=label,
        model_label=model_label,
        adversarial=label != model_label,
        marked_by=lead,
    )


def serve_and_answer(
    g: GoldItem, reviewer, answer: str, *, qualification: bool = False, seconds: float = 30.0
) -> GoldServing:
    """Serve gold ``g`` to ``reviewer`` (a gold or qualification item) and score ``answer``."""
    purpose = Purpose.QUALIFICATION if qualification else Purpose.GOLD
    it = item(g.prediction, purpose, for_reviewer=reviewer)
    d = decide(it, reviewer, answer, seconds=seconds)
    return GoldServing.objects.create(
        gold=g,
        item=it,
        reviewer=reviewer,
        model=g.model,
        qualification=qualification,
        result=GoldServing.Result.CORRECT if answer == g.label else GoldServing.Result.WRONG,
        decision=d,
        answered_label=answer,
        adversarial=g.adversarial,
        scored_at=clock.now(),
    )

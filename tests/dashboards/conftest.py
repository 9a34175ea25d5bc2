"""Builders for raw rows the rollups fold: predictions, review items, decisions, breaches.

Rows are created directly (not through the queue's services) so these tests pin the fold's
arithmetic without depending on how the queue app gets there.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from reviewapp.models import Decision, Prediction, ReviewItem
from tests.factories import DEFAULT_RULES, MLModelFactory, UserFactory, make_policy

_seq = itertools.count(1)
T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def make_prediction(
    model,
    *,
    received_at: dt.datetime,
    routed: bool | None = True,
    reasons: tuple[str, ...] = ("low_confidence",),
    confidence: float = 0.55,
) -> Prediction:
    if routed is None:
        status = Prediction.Status.RECEIVED
    else:
        status = Prediction.Status.IN_REVIEW if routed else Prediction.Status.PASSED
    return Prediction.objects.create(
        model=model,
        external_id=f"x-{next(_seq)}",
        model_version="1",
        input={"a": 1},
        output={"label": model.labels[0]},
        label=model.labels[0],
        confidence=confidence,
        occurred_at=received_at,
        received_at=received_at,
        status=status,
        routed=routed,
        reason_codes=list(reasons) if routed else [],
        routed_at=None if routed is None else received_at,
    )


def make_item(prediction: Prediction, *, sla_minutes: int = 60) -> ReviewItem:
    return ReviewItem.objects.create(
        prediction=prediction,
        model=prediction.model,
        sla_due_at=prediction.received_at + dt.timedelta(minutes=sla_minutes),
        created_at=prediction.received_at,
        updated_at=prediction.received_at,
    )


def make_decision(
    item: ReviewItem,
    reviewer,
    *,
    action: str = Decision.Action.ACCEPT,
    decided_at: dt.datetime,
    confidence: float | None = None,
    deliver_after: dt.datetime | None = None,
    undone_at: dt.datetime | None = None,
) -> Decision:
    return Decision.objects.create(
        item=item,
        prediction=item.prediction,
        model=item.model,
        reviewer=reviewer,
        action=action,
        final_label=item.prediction.label if action == Decision.Action.ACCEPT else "",
        model_confidence=item.prediction.confidence if confidence is None else confidence,
        decided_at=decided_at,
        deliver_after=deliver_after or decided_at + dt.timedelta(seconds=5),
        undone_at=undone_at,
    )


def reviewed(
    model, reviewer, *, received_at, after: dt.timedelta, action="accept", confidence=0.55
):
    """A routed prediction, its item and one decision `after` its arrival."""
    item = make_item(make_prediction(model, received_at=received_at, confidence=confidence))
    return make_decision(item, reviewer, action=action, decided_at=received_at + after)


@pytest.fixture
def model_a(db):
    model = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"], criticality="critical")
    make_policy(model)
    return model


@pytest.fixture
def model_b(db):
    model = MLModelFactory(slug="chest-xray", labels=["normal", "nodule"], criticality="high")
    rules = {k: v for k, v in DEFAULT_RULES.items() if k != "min_confidence_by_label"}
    make_policy(model, {**rules, "min_confidence": 0.8})
    return model


@pytest.fixture
def ana(db):
    return UserFactory(username="ana", roles=["reviewer"])


@pytest.fixture
def ravi(db):
    return UserFactory(username="ravi", roles=["reviewer"])


@pytest.fixture
def committee(db):
    return UserFactory(username="cora", roles=["committee"])

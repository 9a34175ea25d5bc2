"""Fixtures and builders shared by the queue tests (imported by test_queue*/test_review*)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from reviewapp.models import Decision, PoolMembership, Prediction, ReviewItem
from reviewapp.services.decisions import review_item_decide
from reviewapp.services.routing import predictions_route
from tests.factories import MLModelFactory, UserFactory, make_policy


def make_items(
    model,
    n: int = 1,
    *,
    confidence: float = 0.55,
    label: str | None = None,
    prefix: str = "t",
    **signals,
) -> list[ReviewItem]:
    """Store ``n`` predictions and route them with the model's active policy."""
    now = timezone.now()
    start = Prediction.objects.count()
    rows = [
        Prediction(
            model=model,
            external_id=f"{prefix}-{start + i}",
            model_version="1.0",
            input={"amount": 912.5 + i, "country": "NL", "note": "x" * 120},
            output={"label": label or model.labels[0], "scores": {}},
            label=label or model.labels[0],
            confidence=confidence,
            signals={"ood_score": 0.1, "attributions": {"amount": 0.4, "country": -0.1}, **signals},
            lineage={"dataset": "tx-2026-11", "pipeline_run": "run-1"},
            occurred_at=now,
            received_at=now,
        )
        for i in range(n)
    ]
    Prediction.objects.bulk_create(rows)
    ids = list(
        Prediction.objects.filter(external_id__in=[r.external_id for r in rows]).values_list(
            "id", flat=True
        )
    )
    predictions_route(ids=ids)
    return list(ReviewItem.objects.filter(prediction_id__in=ids).order_by("id"))


def decide(item: ReviewItem, user, action: str = "accept", **fields) -> Decision:
    """Decide ``item`` as ``user`` with the claim generation their review page carried."""
    return review_item_decide(
        item_id=item.pk, user=user, action=action, generation=item.claim_generation, **fields
    )


@pytest.fixture
def pooled_reviewer(db, fraud_model):
    user = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=user)
    return user


@pytest.fixture
def other_reviewer(db, fraud_model):
    user = UserFactory(username="ravi", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=user)
    return user


@pytest.fixture
def radiology_model(db):
    model = MLModelFactory(
        slug="radiology-triage", labels=["no_finding", "nodule", "effusion"], criticality="high"
    )
    make_policy(
        model,
        {
            "min_confidence": 0.85,
            "sla_minutes": {"critical": 20, "high": 45, "medium": 240, "low": 720},
            "fallback": {"label": "needs_radiologist"},
        },
    )
    return model

"""The fold against rows made by the real pipeline: ingest API, router, claim and decide."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reviewapp.dashboards.models import ModelTotal
from reviewapp.dashboards.services import rollups_fold
from reviewapp.models import Prediction
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.decisions import review_item_decide
from reviewapp.services.pools import pool_member_add
from reviewapp.services.routing import predictions_route
from tests.factories import envelope_for

pytestmark = pytest.mark.django_db


def test_rollups_follow_the_real_pipeline(api, fraud_model, reviewer, lead):
    bodies = [
        envelope_for(fraud_model, "low-1", confidence=0.41),  # below 0.7 (0.8 for fraud): routed
        envelope_for(fraud_model, "low-2", confidence=0.52),
        envelope_for(fraud_model, "sure-1", confidence=0.99, signals={}),  # passes
    ]
    for body in bodies:
        assert api.post("/api/v1/predictions", body, format="json").status_code in (200, 202)
    predictions_route(ids=list(Prediction.objects.values_list("id", flat=True)))
    later = timezone.now() + dt.timedelta(minutes=5)
    rollups_fold(now=later)
    total = ModelTotal.objects.get(model=fraud_model)
    assert (total.ingested, total.routed, total.passed) == (3, 2, 1)
    assert total.reasons.get("low_confidence") == 2

    pool_member_add(model=fraud_model, user=reviewer, by=lead)
    item = review_item_claim_next(user=reviewer)
    review_item_decide(
        item_id=item.pk,
        user=reviewer,
        action="override",
        generation=item.claim_generation,
        label="legit",
        reason="Known merchant",
    )
    item = review_item_claim_next(user=reviewer)
    review_item_decide(
        item_id=item.pk, user=reviewer, action="accept", generation=item.claim_generation
    )
    # Inside the undo grace period nothing is counted; after it, both are.
    rollups_fold(now=timezone.now())
    assert ModelTotal.objects.get(model=fraud_model).decided == 0
    rollups_fold(now=timezone.now() + dt.timedelta(minutes=10))
    total = ModelTotal.objects.get(model=fraud_model)
    assert (total.decided, total.accepted, total.overridden) == (2, 1, 1)
    assert sum(total.calibration_decided) == 2 and sum(total.calibration_agreed) == 1

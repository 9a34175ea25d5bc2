"""End to end through a real Celery worker process (not eager mode): API → broker → routing."""

from __future__ import annotations

import pytest

from reviewapp.models import Prediction, ReviewItem
from tests import processes
from tests.factories import envelope_for
from tests.processes import received_count, routed_counts, wait_until

start_worker = processes.start_worker  # the fixture

pytestmark = [pytest.mark.worker]


def _batch(model, prefix: str, n: int) -> list[dict]:
    """Mixed traffic: confident (pass unless QA-sampled), unsure, and out-of-distribution."""
    items = []
    for i in range(n):
        kind = i % 3
        confidence = {0: 0.99, 1: 0.41, 2: 0.97}[kind]
        signals = {"ood_score": 0.95 if kind == 2 else 0.05}
        items.append(
            envelope_for(
                model,
                f"{prefix}-{i}",
                confidence=confidence,
                output={"label": model.labels[i % 2]},
                signals=signals,
            )
        )
    return items


def test_real_worker_routes_a_posted_batch_exactly_once(start_worker, api, fraud_model):
    # A long sweep delay: this test proves the normal path (publish after commit), not the sweeper.
    worker = start_worker(beat=False, sweep_after=600)
    items = _batch(fraud_model, "e2e", 300)
    items.append(dict(items[0]))  # a repeated key inside the batch
    items.append({**items[1], "confidence": 7})  # refused on its own
    response = api.post("/api/v1/predictions/batch", {"predictions": items}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    accepted = [r["id"] for r in results if r["status"] == "accepted"]
    assert len(accepted) == 300
    assert results[300]["status"] == "duplicate" and results[300]["id"] == results[0]["id"]
    assert results[301]["status"] == "error" and "confidence" in results[301]["errors"]

    single = api.post("/api/v1/predictions", envelope_for(fraud_model, "e2e-single"), format="json")
    assert single.status_code == 202, single.content
    accepted.append(single.json()["id"])

    wait_until(
        lambda: received_count(accepted) == 0,
        timeout=45,
        message=f"all routed; worker log:\n{worker.log()}",
    )
    counts = routed_counts()
    assert {pk: counts[pk] for pk in accepted} == dict.fromkeys(accepted, 1)
    assert set(counts) == set(accepted), "routed something that was never accepted"

    to_review = set(
        Prediction.objects.filter(id__in=accepted, routed=True).values_list("id", flat=True)
    )
    passed = set(
        Prediction.objects.filter(id__in=accepted, routed=False).values_list("id", flat=True)
    )
    assert to_review | passed == set(accepted)
    # Unsure and OOD traffic goes to people; confident in-distribution traffic mostly passes.
    assert len(to_review) >= 200 and passed
    items_for = set(ReviewItem.objects.values_list("prediction_id", flat=True))
    assert items_for == to_review
    assert not ReviewItem.objects.exclude(status=ReviewItem.Status.PENDING).exists()
    assert Prediction.objects.filter(id__in=to_review, status="in_review").count() == len(to_review)

    record = api.get(f"/api/v1/predictions/{results[1]['id']}").json()
    assert record["status"] == "in_review", record

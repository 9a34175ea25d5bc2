"""Shared bits of the fault tests: post traffic, then check every accepted id routed once."""

from __future__ import annotations

from reviewapp.models import Prediction, ReviewItem
from tests.factories import envelope_for
from tests.processes import received_count, routed_counts, wait_until


def post_batch(api, model, prefix: str, n: int) -> list[int]:
    items = [
        envelope_for(
            model,
            f"{prefix}-{i}",
            confidence=0.4 if i % 2 else 0.99,
            output={"label": model.labels[i % 2]},
        )
        for i in range(n)
    ]
    response = api.post("/api/v1/predictions/batch", {"predictions": items}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert all(r["status"] == "accepted" for r in results), results[:3]
    return [r["id"] for r in results]


def assert_all_routed_exactly_once(accepted: list[int], *, timeout: float, worker) -> None:
    wait_until(
        lambda: received_count(accepted) == 0,
        timeout=timeout,
        interval=0.25,
        message=f"{received_count(accepted)} still waiting; worker log:\n{worker.log()}",
    )
    counts = routed_counts()
    twice = {pk: n for pk, n in counts.items() if n != 1}
    assert not twice, f"routed more than once: {dict(list(twice.items())[:10])}"
    missing = set(accepted) - set(counts)
    assert not missing, f"{len(missing)} accepted prediction(s) never routed"
    assert set(counts) == set(accepted)
    to_review = set(
        Prediction.objects.filter(id__in=accepted, routed=True).values_list("id", flat=True)
    )
    assert set(ReviewItem.objects.values_list("prediction_id", flat=True)) == to_review
    assert to_review, "the traffic contains unsure predictions: some must reach review"

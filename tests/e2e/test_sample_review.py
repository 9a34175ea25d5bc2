"""A reviewer opens a shift sample (a confident prediction that had passed) and reads why it is in
the queue; a halted model's sample replays with its mode. Screenshots kept."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reviewapp.core.audit import Actor
from reviewapp.models import Mode, ModelMode, PoolMembership, Prediction, Purpose, ReviewItem
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route
from tests.factories import UserFactory, envelope_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _route(model, external_id: str) -> Prediction:
    [result] = prediction_batch_ingest(
        envelopes=[
            envelope_for(
                model,
                external_id,
                output={"label": "legit", "scores": {"legit": 0.98}},
                confidence=0.98,
            )
        ],
        account=None,
        actor=Actor.system("tests"),
        enqueue=False,
    )
    predictions_route(ids=[result.id])
    return Prediction.objects.get(pk=result.id)


def test_reviewer_sees_why_a_sample_is_in_the_queue(
    live_server, page, sign_in, artifacts, fraud_model
):
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    passed = _route(fraud_model, "txn-sampled")
    assert passed.status == "passed"
    item = ReviewItem.objects.create(
        prediction=passed,
        model=fraud_model,
        purpose=Purpose.SHIFT_SAMPLE,
        priority=30,
        sla_due_at=timezone.now() + dt.timedelta(hours=4),
    )
    ModelMode.objects.create(model=fraud_model, mode=Mode.HALTED, reason="drift", sample_rate=1.0)
    halted = _route(fraud_model, "txn-halted")
    assert halted.status == "fallback"
    halted_item = ReviewItem.objects.get(prediction=halted)

    sign_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/queue/")
    assert page.locator(".badge:has-text('shift sample')").is_visible()
    assert page.locator(".badge:has-text('halted sample')").is_visible()
    page.screenshot(path=str(artifacts / "sample-queue.png"), full_page=True)

    page.goto(f"{live_server.url}/queue/items/{item.pk}/review/")
    note = page.locator(".purpose-note")
    assert note.is_visible() and "passed automatically" in note.inner_text()
    page.screenshot(path=str(artifacts / "sample-review.png"), full_page=True)

    page.goto(f"{live_server.url}/queue/items/{halted_item.pk}/replay/")
    assert page.locator(".replay-verdict.ok").is_visible()
    assert "halted" in page.locator("tr[data-field='mode']").inner_text()
    page.screenshot(path=str(artifacts / "sample-halted-replay.png"), full_page=True)

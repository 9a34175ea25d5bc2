"""An engineer opens an item, presses "Replay routing" and sees the recorded decision beside the
replayed one; a tampered stored fact shows as a mismatch. Screenshots kept. (Reviewers get no
button: a blind item's replay would show its source, docs/quality/blind.md.)"""

from __future__ import annotations

import pytest

from reviewapp.core.audit import Actor
from reviewapp.models import Prediction
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route
from tests.factories import UserFactory, envelope_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_reviewer_replays_an_items_routing(live_server, page, sign_in, artifacts, fraud_model):
    UserFactory(username="sam", roles=["engineer"])
    results = prediction_batch_ingest(
        envelopes=[
            {**envelope_for(fraud_model, f"txn-{n}"), "confidence": 0.42 + n / 10} for n in range(2)
        ],
        account=None,
        actor=Actor.system("tests"),
        enqueue=False,
    )
    predictions_route(ids=[r.id for r in results])
    same, tampered = (
        Prediction.objects.prefetch_related("review_items").get(pk=r.id) for r in results
    )
    facts = {**tampered.routing_facts, "confidence": 0.99}
    Prediction.objects.filter(pk=tampered.pk).update(routing_facts=facts)

    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/queue/items/{same.review_item.pk}/")
    page.screenshot(path=str(artifacts / "replay-item-page.png"), full_page=True)
    page.click("a:has-text('Replay routing')")
    page.wait_for_load_state("networkidle")
    assert page.locator(".replay-verdict.ok").is_visible()
    assert page.locator(".replay-table tbody tr").count() == 9
    assert page.locator(".replay-table tr.differs").count() == 0
    page.screenshot(path=str(artifacts / "replay-matches.png"), full_page=True)

    page.goto(f"{live_server.url}/queue/items/{tampered.review_item.pk}/replay/")
    assert page.locator(".replay-verdict.bad").is_visible()
    assert page.locator(".replay-table tr.differs").count() >= 2
    assert page.locator("tr[data-field='routed'] .badge.red").is_visible()
    page.screenshot(path=str(artifacts / "replay-mismatch.png"), full_page=True)

"""Items of every purpose through decisions, delivery, the decisions feed, the label export,
catalog occurrences and the review page (DESIGN, "Review items have a purpose"): only routed
items send ``decision.made``; an override of a prediction that had passed sends
``decision.corrected``; a halted model's sample sends nothing; gold and qualification never
count."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Occurrence
from reviewapp.core.audit import Actor
from reviewapp.delivery.models import Delivery
from reviewapp.delivery.services import deliveries_enqueue
from reviewapp.models import (
    Decision,
    Mode,
    ModelMode,
    PoolMembership,
    Prediction,
    Purpose,
    ReviewItem,
)
from reviewapp.selectors.context import review_context, similar_decisions
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.decisions import decision_undo, review_item_decide
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route
from tests.factories import MLModelFactory, UserFactory, envelope_for, make_policy
from tests.reviewapp.test_catalog_calls import published_fm  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

RULES = {
    "min_confidence": 0.7,
    "qa_sample_rate": 0.0,
    "sla_minutes": {"critical": 15, "high": 60, "medium": 240, "low": 1440},
    "fallback": {"label": "deny", "action": "refer_to_branch"},
}


@pytest.fixture
def loans(db):
    model = MLModelFactory(slug="loans", labels=["approve", "deny"], criticality="high")
    make_policy(model, RULES)
    return model


@pytest.fixture
def ana(loans):
    user = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=loans, user=user)
    return user


def route(model, external_id: str, confidence: float = 0.97) -> Prediction:
    [result] = prediction_batch_ingest(
        envelopes=[
            envelope_for(
                model,
                external_id,
                output={"label": "approve", "scores": {"approve": confidence}},
                confidence=confidence,
            )
        ],
        account=None,
        actor=Actor.system("tests"),
        enqueue=False,
    )
    predictions_route(ids=[result.id])
    return Prediction.objects.get(pk=result.id)


def sample(prediction: Prediction, purpose: str, for_reviewer=None) -> ReviewItem:
    """An item of ``purpose`` for ``prediction``, as the part that opens one would make it
    (gold and qualification items are served to one reviewer)."""
    return ReviewItem.objects.create(
        prediction=prediction,
        model=prediction.model,
        purpose=purpose,
        for_reviewer=for_reviewer,
        priority=30,
        sla_due_at=timezone.now() + dt.timedelta(hours=4),
    )


def decide(user, action: str = "accept", **kw) -> Decision:
    item = review_item_claim_next(user=user)
    assert item is not None
    if action == "override":
        kw = {"label": "deny", "reason": "income was misread", **kw}
    return review_item_decide(
        item_id=item.pk, user=user, action=action, generation=item.claim_generation, **kw
    )


def released(*decisions: Decision) -> None:
    """Their Undo grace period is over."""
    past = timezone.now() - dt.timedelta(minutes=1)
    Decision.objects.filter(pk__in=[d.pk for d in decisions]).update(
        decided_at=past, deliver_after=past
    )


def fill() -> list[Delivery]:
    deliveries_enqueue(now=timezone.now() + dt.timedelta(minutes=5))
    return list(Delivery.objects.order_by("id"))


def feed(user) -> list[dict]:
    client = APIClient()
    client.force_login(user)
    response = client.get("/api/v1/decisions")
    assert response.status_code == 200
    return response.json()["results"]


def export(user, **params) -> list[dict]:
    client = APIClient()
    client.force_login(user)
    response = client.get("/api/v1/decisions/export", params)
    assert response.status_code == 200, response.content
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines() if line]


# --- a shift sample of a passed prediction -----------------------------------------------------
def test_an_override_of_a_passed_prediction_is_sent_as_a_correction(loans, ana, lead):
    passed = route(loans, "s-1")
    assert passed.status == "passed"
    sample(passed, Purpose.SHIFT_SAMPLE)
    decision = decide(ana, "override")
    # The routing record and the prediction's status stay what routing made them.
    passed.refresh_from_db()
    assert passed.status == "passed" and passed.routed is False
    released(decision)
    [delivery] = fill()
    assert delivery.kind == Delivery.Kind.CORRECTED
    assert delivery.event_type == "decision.corrected"
    assert delivery.decision_id == decision.pk
    body = delivery.payload
    assert body["type"] == "decision.corrected"
    data = body["data"]
    assert data["type"] == "decision.corrected" and data["purpose"] == "shift_sample"
    assert data["outcome"] == "corrected" and data["action"] == "override"
    assert data["model_label"] == "approve" and data["final_label"] == "deny"
    assert data["prediction_id"] == passed.pk
    # The feed serves what the webhook sends; the export has it as a corrected label.
    [entry] = feed(lead)
    assert entry["type"] == "decision.corrected" and entry["decision_id"] == decision.pk
    [row] = export(lead)
    assert row["outcome"] == "corrected" and row["purpose"] == "shift_sample"
    assert export(lead, outcome="corrected") == [row]
    assert export(lead, outcome="overridden") == []


def test_an_accept_on_a_sample_sends_nothing_but_is_a_label(loans, ana, lead):
    sample(route(loans, "s-2"), Purpose.SHIFT_SAMPLE)
    released(decide(ana, "accept"))
    assert fill() == []
    assert feed(lead) == []
    [row] = export(lead)
    assert row["outcome"] == "accepted" and row["purpose"] == "shift_sample"


def test_undo_takes_back_a_correction_and_leaves_the_prediction_passed(loans, ana, lead):
    passed = route(loans, "s-3")
    sample(passed, Purpose.SHIFT_SAMPLE)
    decision = decide(ana, "override")
    item = decision_undo(decision_id=decision.pk, user=ana)
    assert item.status == "claimed"
    passed.refresh_from_db()
    assert passed.status == "passed"  # not "in review": routing never sent it to review
    released(decision)
    assert fill() == [] and feed(lead) == [] and export(lead) == []


def test_a_shift_samples_time_out_is_not_sent(loans, ana):
    item = sample(route(loans, "s-4"), Purpose.SHIFT_SAMPLE)
    ReviewItem.objects.filter(pk=item.pk).update(sla_breached_at=timezone.now())
    assert fill() == []


# --- a halted model's sample ------------------------------------------------------------------
def test_a_halted_models_sample_sends_nothing_and_is_kept_as_a_label(loans, ana, lead):
    ModelMode.objects.create(model=loans, mode=Mode.HALTED, reason="drift", sample_rate=1.0)
    halted = route(loans, "h-1")
    assert halted.status == "fallback"
    assert ReviewItem.objects.get(prediction=halted).purpose == Purpose.MODE_SAMPLE
    decision = decide(ana, "override")
    halted.refresh_from_db()
    assert halted.status == "fallback"
    released(decision)
    assert fill() == [] and feed(lead) == []
    [row] = export(lead)
    # The producer served the fallback: an override here overturned nothing it used.
    assert row["purpose"] == "mode_sample" and row["outcome"] == "overridden"


def test_the_review_page_says_why_a_sample_is_there(loans, ana):
    item = sample(route(loans, "p-1"), Purpose.SHIFT_SAMPLE)
    assert "Shift sample" in review_context(item).purpose_note
    client = APIClient()
    client.force_login(ana)
    page = client.get(f"/queue/items/{item.pk}/review/").content.decode()
    assert "Shift sample" in page and "shift sample" in page


# --- routed items, as before ------------------------------------------------------------------
def test_a_routed_items_decision_is_decision_made(loans, ana, lead):
    routed = route(loans, "r-1", confidence=0.4)
    decision = decide(ana, "override")
    routed.refresh_from_db()
    assert routed.status == "decided"
    released(decision)
    [delivery] = fill()
    assert delivery.kind == Delivery.Kind.DECISION and delivery.payload["type"] == "decision.made"
    assert delivery.payload["data"]["outcome"] == "overridden"
    assert [e["type"] for e in feed(lead)] == ["decision.made"]
    assert [r["purpose"] for r in export(lead, outcome="overridden")] == ["routed"]


# --- never counted ----------------------------------------------------------------------------
@pytest.mark.parametrize("purpose", [Purpose.GOLD, Purpose.QUALIFICATION, Purpose.SECOND_REVIEW])
def test_gold_qualification_and_second_reviews_are_not_sent_nor_exported(loans, ana, lead, purpose):
    sample(route(loans, f"g-{purpose}"), purpose, for_reviewer=ana)
    released(decide(ana, "override"))
    assert fill() == [] and feed(lead) == [] and export(lead) == []


def test_gold_items_are_no_catalog_occurrence_nor_a_similar_decision(
    loans,
    ana,
    published_fm,  # noqa: F811 - the imported fixture
):
    gold = sample(route(loans, "g-1"), Purpose.GOLD, for_reviewer=ana)
    decision = decide(ana, "override", failure_mode_tags=[published_fm.slug])
    assert decision.failure_mode_tags == [published_fm.slug]
    assert not Occurrence.objects.exists()
    other = sample(route(loans, "g-2"), Purpose.SHIFT_SAMPLE)
    assert similar_decisions(other) == []
    # The gold item shows nothing of its purpose to the reviewer.
    assert review_context(gold).purpose_note == ""

"""Routing under a model's operating mode, on the live path (POST /api/v1/predictions with the
routing task run on commit) and in replay (one prediction, the replay API, a range) and in the
evidence of a change request: a confident prediction of a contained model is routed with
``model_contained``; of a halted model it is answered with the policy's fallback (status
``fallback``, not routed, ``model_halted``), and the sampled share gets a ``mode_sample`` item."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from reviewapp.core.audit import Actor
from reviewapp.core.state import apply_many
from reviewapp.governance.evidence import evidence_compute
from reviewapp.governance.replay import routing_replay, routing_replay_range
from reviewapp.governance.rules import MODEL_CONTAINED, MODEL_HALTED
from reviewapp.models import Mode, ModelMode, Prediction, Purpose, ReviewItem
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.review_state import PREDICTION
from reviewapp.services.routing import predictions_route
from tests.factories import MLModelFactory, UserFactory, envelope_for, make_policy

pytestmark = pytest.mark.django_db

FALLBACK = {"label": "deny", "action": "refer_to_branch"}
RULES = {
    "min_confidence": 0.7,
    "max_ood_score": 0.6,
    "route_on_drift": True,
    "qa_sample_rate": 0.0,
    "sla_minutes": {"critical": 15, "high": 60, "medium": 240, "low": 1440},
    "fallback": FALLBACK,
}


@pytest.fixture
def loans(db):
    model = MLModelFactory(slug="loans", labels=["approve", "deny"], criticality="high")
    make_policy(model, RULES)
    return model


def set_mode(model, mode: str, sample_rate: float = 0.0) -> None:
    ModelMode.objects.update_or_create(
        model=model, defaults={"mode": mode, "reason": "test", "sample_rate": sample_rate}
    )


def confident(model, external_id: str) -> dict:
    return envelope_for(
        model,
        external_id,
        output={"label": "approve", "scores": {"approve": 0.97}},
        confidence=0.97,
    )


@pytest.fixture
def live(api, eager, django_capture_on_commit_callbacks, monkeypatch):
    """POST one envelope through the API, routing run on commit; answers the record."""
    monkeypatch.setattr("reviewapp.services.ingest._broker_down_until", 0.0, raising=False)

    def post(body: dict) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/api/v1/predictions", json.dumps(body), content_type="application/json"
            )
        assert response.status_code == 202, response.content
        return api.get(response.json()["url"]).json()

    return post


def items_of(record: dict) -> dict[str, ReviewItem]:
    return {i.purpose: i for i in ReviewItem.objects.filter(prediction_id=record["id"])}


# --- the live path ----------------------------------------------------------------------------
def test_normal_a_confident_prediction_passes(loans, live):
    record = live(confident(loans, "n-1"))
    assert record["status"] == "passed" and record["routing"]["routed"] is False
    assert items_of(record) == {}


def test_contained_a_confident_prediction_is_routed(loans, live):
    set_mode(loans, Mode.CONTAINED)
    record = live(confident(loans, "c-1"))
    assert record["status"] == "in_review"
    assert record["routing"]["routed"] is True
    assert record["routing"]["reason_codes"][0] == MODEL_CONTAINED
    assert record["routing"]["fallback"] == FALLBACK
    assert record["review_item"] is not None
    assert set(items_of(record)) == {Purpose.ROUTED}
    assert Prediction.objects.get(pk=record["id"]).routing_mode == Mode.CONTAINED


def test_halted_the_fallback_is_served_and_the_sample_share_is_queued(loans, live):
    set_mode(loans, Mode.HALTED, sample_rate=1.0)
    record = live(confident(loans, "h-1"))
    assert record["status"] == "fallback"
    assert record["routing"]["routed"] is False
    assert record["routing"]["reason_codes"] == [MODEL_HALTED]
    assert record["routing"]["fallback"] == FALLBACK
    # Not routed: no routed item for the producer to wait for; a sample for the evidence.
    assert record["review_item"] is None
    assert set(items_of(record)) == {Purpose.MODE_SAMPLE}


def test_halted_with_no_sample_share_queues_nothing(loans, live):
    set_mode(loans, Mode.HALTED, sample_rate=0.0)
    record = live(confident(loans, "h-2"))
    assert record["status"] == "fallback" and record["routing"]["reason_codes"] == [MODEL_HALTED]
    assert items_of(record) == {}


def test_a_lead_contains_through_the_mode_service_and_the_next_prediction_is_routed(loans, live):
    from reviewapp.failsafe.services.modes import mode_change

    lead = UserFactory(username="lena", roles=["lead"])
    mode_change(model=loans, mode=Mode.CONTAINED, reason="override rate shifted", user=lead)
    assert live(confident(loans, "m-1"))["routing"]["reason_codes"][0] == MODEL_CONTAINED
    mode_change(model=loans, mode=Mode.NORMAL, reason="fixed upstream", user=lead)
    assert live(confident(loans, "m-2"))["status"] == "passed"


# --- replay -----------------------------------------------------------------------------------
def _route(model, external_id: str, confidence: float = 0.97) -> Prediction:
    [result] = prediction_batch_ingest(
        envelopes=[
            {
                **confident(model, external_id),
                "confidence": confidence,
                "output": {"label": "approve", "scores": {"approve": confidence}},
            }
        ],
        account=None,
        actor=Actor.system("tests"),
        enqueue=False,
    )
    assert predictions_route(ids=[result.id]) == 1
    return Prediction.objects.get(pk=result.id)


@pytest.fixture
def traffic(loans):
    """Predictions routed under each mode, confident and not."""
    rows = [_route(loans, "r-n1"), _route(loans, "r-n2", 0.4)]
    set_mode(loans, Mode.CONTAINED)
    rows += [_route(loans, "r-c1"), _route(loans, "r-c2", 0.4)]
    set_mode(loans, Mode.HALTED, sample_rate=1.0)
    rows += [_route(loans, "r-h1"), _route(loans, "r-h2", 0.4)]
    set_mode(loans, Mode.HALTED, sample_rate=0.0)
    rows += [_route(loans, "r-h3")]
    set_mode(loans, Mode.NORMAL)
    return rows


def test_replay_reproduces_routing_under_every_mode(traffic):
    replays = [routing_replay(p) for p in traffic]
    assert [r.differences for r in replays] == [()] * len(traffic)
    assert [r.recorded.mode for r in replays] == ["normal"] * 2 + ["contained"] * 2 + ["halted"] * 3
    assert [r.recorded.mode_sample for r in replays] == [False] * 4 + [True, True, False]
    halted = replays[4]
    assert halted.replayed.routed is False and halted.replayed.reasons == [MODEL_HALTED]
    assert halted.replayed.fallback == FALLBACK and halted.replayed.sla_due_at is None
    # The mode row has moved on since: replay reads the stored facts, not the live row.
    assert ModelMode.objects.get(model__slug="loans").mode == Mode.NORMAL
    assert all(r.matches for r in routing_replay_range(model_slug="loans"))


def test_replay_api_shows_the_mode_and_the_sample(traffic, engineer):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(engineer)
    body = client.get(f"/api/v1/predictions/{traffic[4].pk}/replay").json()
    assert body["matches"] is True
    assert body["recorded"]["mode"] == body["replayed"]["mode"] == "halted"
    assert body["recorded"]["mode_sample"] is body["replayed"]["mode_sample"] is True


def test_replay_tells_a_missing_halted_sample(traffic):
    # The sample is part of what routing decided: an item gone missing is a difference.
    ReviewItem.objects.filter(prediction=traffic[4], purpose=Purpose.MODE_SAMPLE).delete()
    assert routing_replay(traffic[4]).differences == ("mode_sample",)


# --- evidence ---------------------------------------------------------------------------------
def _later():
    # The evidence window ends on a whole second: end it after everything routed just now.
    return timezone.now() + dt.timedelta(minutes=1)


def _decide(prediction: Prediction, purpose: str, action: str, user) -> None:
    """A standing final decision on the prediction's item of ``purpose``."""
    from reviewapp.models import PER_REVIEWER_PURPOSES, Decision

    item, _ = ReviewItem.objects.get_or_create(
        prediction=prediction,
        purpose=purpose,
        defaults={
            "model": prediction.model,
            "sla_due_at": timezone.now(),
            "for_reviewer": user if purpose in PER_REVIEWER_PURPOSES else None,
        },
    )
    now = timezone.now()
    Decision.objects.create(
        item=item,
        prediction=prediction,
        model=prediction.model,
        reviewer=user,
        action=action,
        predicted_label=prediction.label,
        final_label="deny" if action == "override" else prediction.label,
        model_confidence=prediction.confidence,
        decided_at=now,
        deliver_after=now,
    )


def test_evidence_replay_check_matches_under_modes_and_never_counts_halted_as_passed(
    traffic, loans
):
    ana = UserFactory(username="ana-ev", roles=["reviewer"])
    # Overrides of a halted model's samples: its output was never served, so no error escaped.
    _decide(traffic[4], Purpose.MODE_SAMPLE, "override", ana)
    _decide(traffic[5], Purpose.MODE_SAMPLE, "override", ana)
    # A gold item's decision is no label of the model's traffic.
    _decide(traffic[0], Purpose.GOLD, "override", ana)
    evidence = evidence_compute(
        model_slug="loans", proposed_rules={**RULES, "min_confidence": 0.5}, until=_later()
    )
    summary = evidence.summary
    assert summary["replay_check"] == {"compared": 7, "mismatches": 0, "examples": []}
    assert evidence.flags["replay_mismatches"] == 0
    escaping = summary["impact"]["escaping_errors"]
    assert escaping["count"] == 0 and escaping["active_count"] == 0
    assert escaping["overrides_reviewed"] == 0
    # Routed counts: contained rows on both sides, halted rows on neither.
    assert summary["impact"]["totals"]["active"] == 3  # r-n2 and both contained
    assert summary["impact"]["totals"]["proposal"] == 3


def test_evidence_counts_a_shift_samples_override_as_an_escaped_error(traffic, loans):
    ana = UserFactory(username="ana-ev2", roles=["reviewer"])
    _decide(traffic[0], Purpose.SHIFT_SAMPLE, "override", ana)  # r-n1 had passed
    escaping = evidence_compute(model_slug="loans", proposed_rules=RULES, until=_later()).summary[
        "impact"
    ]["escaping_errors"]
    assert escaping["active_count"] == 1 and escaping["count"] == 1
    assert escaping["examples"] == [traffic[0].pk]


# --- the prediction machine -------------------------------------------------------------------
def test_a_passed_or_halted_prediction_is_never_decided(traffic):
    passed, fallback, in_review = traffic[0], traffic[4], traffic[1]
    moved = apply_many(PREDICTION, event="decide", ids=[passed.pk, fallback.pk, in_review.pk])
    assert moved == [in_review.pk]
    assert Prediction.objects.get(pk=passed.pk).status == "passed"
    assert Prediction.objects.get(pk=fallback.pk).status == "fallback"

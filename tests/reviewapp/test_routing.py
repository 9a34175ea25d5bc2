"""predictions_route: the model's active policy decides; exactly once; fail safe."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from reviewapp.celery import app as celery_app
from reviewapp.core.audit import Actor
from reviewapp.core.models import AuditEvent
from reviewapp.governance.rules import NO_POLICY_FALLBACK, decide
from reviewapp.governance.selectors import active_policies
from reviewapp.governance.services import policy_version_activate
from reviewapp.models import Prediction, ReviewItem
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import facts_for, predictions_route
from tests.factories import DEFAULT_RULES, MLModelFactory, envelope_for, make_policy

pytestmark = pytest.mark.django_db


def store(*envelopes: dict) -> list[int]:
    """Ingest through the same service the API uses, without publishing to the broker."""
    results = prediction_batch_ingest(
        envelopes=list(envelopes), account=None, actor=Actor.system("tests"), enqueue=False
    )
    assert all(r.status == "accepted" for r in results), [r.errors for r in results]
    return [r.id for r in results]


def env(ml_model, external_id: str, /, **patch) -> dict:
    return {**envelope_for(ml_model, external_id), **patch}


def test_a_low_confidence_prediction_gets_a_review_item(fraud_model):
    [pk] = store(env(fraud_model, "low", confidence=0.5, output={"label": "fraud"}, signals={}))
    assert predictions_route(ids=[pk]) == 1

    prediction = Prediction.objects.get(pk=pk)
    policy = active_policies(["card-fraud"])["card-fraud"]
    assert prediction.status == Prediction.Status.IN_REVIEW
    assert prediction.routed is True
    assert prediction.reason_codes == ["low_confidence"]
    assert prediction.threshold == 0.8
    assert prediction.policy_version == policy
    assert prediction.policy_hash == policy.rules_hash
    assert prediction.fallback == DEFAULT_RULES["fallback"]
    assert prediction.routed_at is not None
    item = ReviewItem.objects.get(prediction=prediction)
    assert item.status == ReviewItem.Status.PENDING
    assert item.model == fraud_model
    # critical (70) + margin 0.30 below threshold (capped +20); far below: SLA 15 -> 8 min.
    assert item.priority == 90
    assert item.sla_due_at == prediction.received_at + dt.timedelta(minutes=8)


def test_a_confident_clean_prediction_passes_without_an_item(fraud_model):
    key = next(
        f"sure-{i}"
        for i in range(100)
        if not decide(DEFAULT_RULES, _facts(fraud_model, f"sure-{i}")).routed
    )
    [pk] = store(env(fraud_model, key, confidence=0.99, output={"label": "legit"}, signals={}))
    predictions_route(ids=[pk])
    prediction = Prediction.objects.get(pk=pk)
    assert prediction.status == Prediction.Status.PASSED
    assert prediction.routed is False
    assert prediction.reason_codes == []
    assert prediction.fallback is None
    assert not ReviewItem.objects.exists()


def _facts(model, key):
    from reviewapp.governance.rules import PredictionFacts

    return PredictionFacts(model.slug, key, "legit", 0.99, model.criticality)


def test_ood_and_drift_signals_route(fraud_model):
    ids = store(
        env(
            fraud_model,
            "ood",
            confidence=0.99,
            output={"label": "legit"},
            signals={"ood_score": 0.9},
        ),
        env(
            fraud_model,
            "drift",
            confidence=0.99,
            output={"label": "legit"},
            signals={"drift_features": ["amount"]},
        ),
    )
    predictions_route(ids=ids)
    codes = dict(Prediction.objects.values_list("external_id", "reason_codes"))
    assert codes == {"ood": ["ood_above_limit"], "drift": ["drift_signalled"]}
    assert ReviewItem.objects.count() == 2


def test_a_model_without_an_active_policy_routes_everything(db):
    model = MLModelFactory(slug="unpoliced", labels=["a", "b"], criticality="medium")
    ids = store(
        *[env(model, f"k{i}", confidence=1.0, output={"label": "a"}, signals={}) for i in range(20)]
    )
    assert predictions_route(ids=ids) == 20
    assert set(Prediction.objects.values_list("status", flat=True)) == {"in_review"}
    prediction = Prediction.objects.first()
    assert prediction.reason_codes == ["no_active_policy"]
    assert prediction.policy_version is None
    assert prediction.policy_hash == ""
    assert prediction.fallback == NO_POLICY_FALLBACK
    assert ReviewItem.objects.count() == 20


def test_an_inactive_policy_does_not_count(db):
    model = MLModelFactory(slug="drafted", labels=["fraud", "legit"])
    make_policy(model, activate=False)
    [pk] = store(env(model, "k", confidence=1.0, signals={}))
    predictions_route(ids=[pk])
    assert Prediction.objects.get(pk=pk).reason_codes == ["no_active_policy"]


def test_routing_is_exactly_once(fraud_model):
    ids = store(*[env(fraud_model, f"k{i}", confidence=0.3) for i in range(5)])
    assert predictions_route(ids=ids) == 5
    events = AuditEvent.objects.count()
    assert predictions_route(ids=ids) == 0  # a redelivered task finds nothing to do
    assert predictions_route(ids=[*ids, 999_999]) == 0
    assert ReviewItem.objects.count() == 5
    assert AuditEvent.objects.count() == events


def test_each_model_is_routed_by_its_own_policy(fraud_model):
    tickets = MLModelFactory(slug="support-triage", labels=["billing", "other"], criticality="low")
    make_policy(tickets, {**DEFAULT_RULES, "min_confidence_by_label": {}, "min_confidence": 0.2})
    ids = store(
        env(fraud_model, "f", confidence=0.5, output={"label": "legit"}, signals={}),
        env(tickets, "t", confidence=0.5, output={"label": "billing"}, signals={}),
    )
    predictions_route(ids=ids)
    rows = {p.external_id: p for p in Prediction.objects.select_related("policy_version")}
    assert rows["f"].routed is True and rows["f"].policy_version.model_slug == "card-fraud"
    assert rows["t"].threshold == 0.2
    assert rows["t"].policy_version.model_slug == "support-triage"


def test_a_decision_keeps_the_version_that_made_it(fraud_model):
    [first] = store(env(fraud_model, "before", confidence=0.75, output={"label": "legit"}))
    predictions_route(ids=[first])
    old = active_policies(["card-fraud"])["card-fraud"]
    new = make_policy(fraud_model, {**DEFAULT_RULES, "min_confidence": 0.5})
    [second] = store(env(fraud_model, "after", confidence=0.75, output={"label": "legit"}))
    predictions_route(ids=[second])
    assert Prediction.objects.get(pk=first).policy_version_id == old.pk
    assert Prediction.objects.get(pk=first).policy_hash == old.rules_hash
    assert Prediction.objects.get(pk=second).policy_version_id == new.pk
    # Rolling back later does not rewrite history either.
    policy_version_activate(policy=old, actor=Actor.system("tests"))
    assert Prediction.objects.get(pk=second).policy_version_id == new.pk


def test_replaying_the_same_traffic_under_the_same_version_routes_the_same_items(fraud_model):
    ids = store(
        *[
            env(fraud_model, f"qa-{i}", confidence=0.95, output={"label": "legit"}, signals={})
            for i in range(400)
        ]
    )
    predictions_route(ids=ids)
    policy = active_policies(["card-fraud"])["card-fraud"]
    live = {p.external_id: p.routed for p in Prediction.objects.select_related("model")}
    replayed = {
        p.external_id: decide(policy.rules, facts_for(p)).routed
        for p in Prediction.objects.select_related("model")
    }
    assert live == replayed
    sampled = sum(live.values())
    assert 0 < sampled < 40  # qa_sample_rate 0.02 of 400: a handful, not none, not most
    routed_codes = Prediction.objects.filter(routed=True).values_list("reason_codes", flat=True)
    assert all(codes == ["qa_sample"] for codes in routed_codes)


def test_routing_is_audited_once_per_call(fraud_model):
    ids = store(
        env(fraud_model, "a", confidence=0.3),
        env(fraud_model, "b", confidence=0.99, output={"label": "legit"}, signals={}),
    )
    predictions_route(ids=ids)
    event = AuditEvent.objects.get(verb="queue.prediction.routed")
    policy = active_policies(["card-fraud"])["card-fraud"]
    assert event.actor_type == "system" and event.actor_label == "router"
    assert event.data["policies"] == {"card-fraud": [policy.version, policy.rules_hash]}
    routed = set(Prediction.objects.filter(routed=True).values_list("id", flat=True))
    assert set(event.data["to_review"]) == routed
    assert set(event.data["to_review"]) | set(event.data["passed"]) == set(ids)


def test_routing_a_batch_uses_a_fixed_number_of_queries(fraud_model, django_assert_max_num_queries):
    from django.db import connection

    ids = store(*[env(fraud_model, f"k{i}", confidence=0.3 + i / 200) for i in range(100)])
    # SQLite binds at most 2,000 parameters per statement: 100 review items of 22 columns
    # are two INSERTs there (90 + 10), one on PostgreSQL. Still per chunk, never per row.
    # +1: the models' review-quality settings (suggestion masking), read once per chunk.
    with django_assert_max_num_queries(13 if connection.vendor == "postgresql" else 14):
        assert predictions_route(ids=ids) == 100


# --- through the API, with the task run eagerly on commit -------------------------------------
@pytest.fixture
def broker_fresh(monkeypatch):
    """Forget any broker outage an earlier test left noted (restored afterwards)."""
    monkeypatch.setattr("reviewapp.services.ingest._broker_down_until", 0.0, raising=False)


@pytest.fixture
def eager_celery(broker_fresh):
    """Run published tasks in-process for this test only."""
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


def test_the_api_enqueues_routing_after_commit(
    api, fraud_model, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(
            "/api/v1/predictions",
            json.dumps(env(fraud_model, "eager", confidence=0.4)),
            content_type="application/json",
        )
    assert response.status_code == 202
    assert len(callbacks) == 1
    detail = api.get(response.json()["url"]).json()
    assert detail["status"] == "in_review"
    assert detail["routing"]["reason_codes"] == ["low_confidence"]
    assert detail["review_item"]["status"] == "pending"


def test_a_duplicate_enqueues_nothing(api, fraud_model, django_capture_on_commit_callbacks):
    body = json.dumps(env(fraud_model, "once"))
    api.post("/api/v1/predictions", body, content_type="application/json")
    with django_capture_on_commit_callbacks() as callbacks:
        again = api.post("/api/v1/predictions", body, content_type="application/json")
    assert again.status_code == 200
    assert callbacks == []


def test_a_broker_outage_still_answers_202_and_leaves_the_row_for_the_sweeper(
    api, fraud_model, monkeypatch, broker_fresh, django_capture_on_commit_callbacks
):
    from reviewapp.tasks import route_predictions

    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(route_predictions, "apply_async", broken)
    monkeypatch.setattr(celery_app, "producer_or_acquire", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/predictions",
            json.dumps(env(fraud_model, "outage")),
            content_type="application/json",
        )
    assert response.status_code == 202
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert prediction.status == Prediction.Status.RECEIVED


# --- the facts routing read, stored for replay ------------------------------------------------
def test_routing_stores_the_facts_it_read(fraud_model):
    [pk] = store(
        env(fraud_model, "facts", confidence=0.5, signals={"ood_score": 0.2, "drift_features": []})
    )
    predictions_route(ids=[pk])
    prediction = Prediction.objects.get(pk=pk)
    assert prediction.routing_facts == {
        "model_slug": "card-fraud",
        "external_id": "facts",
        "label": prediction.label,
        "confidence": 0.5,
        "criticality": "critical",
        "ood_score": 0.2,
        "drift_features": [],
        "fields": {},  # a v1 policy reads no input field
        "mode": "normal",
        "mode_sample_rate": 0.0,
        "anomalies": [],
        # the scores' summary (the envelope sent fraud 0.55 alone): the label is its top
        "top_scores": {"fraud": 0.55},
    }


SEGMENTED = {
    **DEFAULT_RULES,
    "schema": 2,
    "max_auto_error_rate": 0.02,
    "segments": [
        {
            "name": "high-value",
            "conditions": [{"field": "input.amount", "op": ">=", "value": 10000}],
            "min_confidence": 0.95,
        }
    ],
}


def test_a_segment_policy_routes_by_input_fields(fraud_model, django_assert_max_num_queries):
    make_policy(fraud_model, SEGMENTED)
    ids = store(
        *[
            env(
                fraud_model,
                f"seg-{i}",
                confidence=0.9,
                output={"label": "legit"},
                input={"amount": 5000 + 5000 * i, "note": "not stored"},
                signals={},
            )
            for i in range(4)
        ]
    )
    # One query more than a v1 policy: the input and output of the rows it routes.
    with django_assert_max_num_queries(13):
        predictions_route(ids=ids)
    rows = {p.external_id: p for p in Prediction.objects.filter(pk__in=ids)}
    big = rows["seg-1"]
    assert big.routed and big.reason_codes == ["low_confidence"]
    assert big.reason_details["segment"] == "high-value" and big.threshold == 0.95
    assert big.routing_facts["fields"] == {"input.amount": 10000}
    small = rows["seg-0"]
    assert "segment" not in small.reason_details and small.threshold == 0.7
    assert small.routing_facts["fields"] == {"input.amount": 5000}

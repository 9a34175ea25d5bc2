"""Producers learn the mode from every answer: each ingest answer naming a prediction carries
``model_mode`` as it was at receipt (stored in ``mode_at_receipt``), and a prediction's record
carries ``routing.mode``, the mode it was routed under, with the mode's reason code."""

from __future__ import annotations

import json

import pytest

from reviewapp.models import Prediction, ReviewItem
from reviewapp.tasks import ingest_prediction
from tests.factories import MLModelFactory, envelope_for, make_policy

from .modes_helpers import switch

pytestmark = pytest.mark.django_db

URL = "/api/v1/predictions"


def env(model, external_id: str, **patch) -> dict:
    return {**envelope_for(model, external_id), **patch}


def post(api, body, url=URL):
    return api.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def routed_now(eager, monkeypatch, django_capture_on_commit_callbacks):
    """Post through the API with routing run in this process after commit (the eager
    fixture), as a worker would."""
    monkeypatch.setattr("reviewapp.services.ingest._broker_down_until", 0.0, raising=False)

    def send(api, body):
        with django_capture_on_commit_callbacks(execute=True):
            return post(api, body)

    return send


def test_the_single_answer_carries_the_mode_at_receipt(api, fraud_model, lead):
    first = post(api, env(fraud_model, "a"))
    assert first.status_code == 202 and first.json()["model_mode"] == "normal"
    switch(fraud_model, "contained", lead)
    second = post(api, env(fraud_model, "b"))
    assert second.status_code == 202 and second.json()["model_mode"] == "contained"
    assert Prediction.objects.get(external_id="b").mode_at_receipt == "contained"
    assert Prediction.objects.get(external_id="a").mode_at_receipt == "normal"


def test_a_duplicate_answers_the_mode_stored_at_its_first_receipt(api, fraud_model, lead):
    """A retried request gets the answer its first attempt got (idempotent), even if the mode
    changed in between; the record says both: the mode at receipt and routing.mode."""
    switch(fraud_model, "halted", lead)
    assert post(api, env(fraud_model, "dup")).json()["model_mode"] == "halted"
    switch(fraud_model, "normal", lead, reason="Fixed.")
    again = post(api, env(fraud_model, "dup"))
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["model_mode"] == "halted"


def test_each_batch_result_carries_the_mode_of_its_model(api, fraud_model, lead):
    other = MLModelFactory(slug="churn", labels=["fraud", "legit"])
    make_policy(other)
    switch(fraud_model, "contained", lead)
    post(api, env(other, "seen"))
    response = post(
        api,
        {
            "predictions": [
                env(fraud_model, "f1"),
                env(other, "c1"),
                env(other, "seen"),
                {"model": "card-fraud"},
            ]
        },
        url=URL + "/batch",
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["status"], r["model_mode"]) for r in results] == [
        ("accepted", "contained"),
        ("accepted", "normal"),
        ("duplicate", "normal"),
        ("error", None),
    ]


def test_the_published_task_stores_the_mode_at_receipt(fraud_model, service_token, lead):
    switch(fraud_model, "contained", lead)
    pk = ingest_prediction(env(fraud_model, "celery", confidence=0.99), "producer")
    prediction = Prediction.objects.get(pk=pk)
    assert prediction.mode_at_receipt == "contained"
    assert prediction.routing_mode == "contained"


def test_a_confident_prediction_of_a_contained_model_is_routed_with_its_reason(
    api, fraud_model, lead, routed_now
):
    switch(fraud_model, "contained", lead)
    created = routed_now(api, env(fraud_model, "sure", confidence=0.99, output={"label": "legit"}))
    assert created.json()["model_mode"] == "contained"
    record = api.get(created.json()["url"]).json()
    assert record["status"] == "in_review"
    assert record["model_mode"] == "contained"
    assert record["routing"]["mode"] == "contained"
    assert record["routing"]["routed"] is True
    assert record["routing"]["reason_codes"][0] == "model_contained"
    assert record["review_item"] is not None


def test_a_halted_model_answers_the_fallback(api, fraud_model, lead, routed_now):
    switch(fraud_model, "halted", lead, sample_rate=0.0)
    created = routed_now(api, env(fraud_model, "h", confidence=0.99, output={"label": "legit"}))
    record = api.get(created.json()["url"]).json()
    assert record["status"] == "fallback"
    assert record["routing"]["mode"] == "halted"
    assert record["routing"]["routed"] is False
    assert "model_halted" in record["routing"]["reason_codes"]
    assert record["routing"]["fallback"] is not None
    assert record["review_item"] is None
    assert not ReviewItem.objects.exists()


def test_routing_mode_is_the_mode_at_routing_not_at_receipt(api, fraud_model, lead):
    """Contained when received, lifted before the worker routed it: routing.mode (the
    authoritative one) says normal, the record's model_mode says contained."""
    from reviewapp.services.routing import predictions_route

    switch(fraud_model, "contained", lead)
    created = post(api, env(fraud_model, "late", confidence=0.99, output={"label": "legit"}))
    switch(fraud_model, "normal", lead, reason="False alarm.")
    predictions_route(ids=[created.json()["id"]])
    record = api.get(created.json()["url"]).json()
    assert record["model_mode"] == "contained"
    assert record["routing"]["mode"] == "normal"
    assert "model_contained" not in record["routing"]["reason_codes"]


def test_a_normal_record_says_normal(api, fraud_model, routed_now):
    created = routed_now(api, env(fraud_model, "n", confidence=0.3))
    record = api.get(created.json()["url"]).json()
    assert record["model_mode"] == "normal" and record["routing"]["mode"] == "normal"

"""A label that contradicts its own scores (issue 15): routed to review with
``inconsistent_output``, or refused with a 400 naming ``output.label`` and ``output.scores``
when the model is strict; replayed exactly; said in words on the review page."""

from __future__ import annotations

import html
import json

import pytest
from django.urls import reverse

from reviewapp.core.audit import Actor
from reviewapp.governance.replay import routing_replay
from reviewapp.models import (
    PoolMembership,
    Prediction,
    PredictionPayload,
    RejectedEnvelope,
    ReviewItem,
)
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.ingest import prediction_ingest_published
from reviewapp.services.routing import predictions_route
from tests.factories import UserFactory, envelope_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/predictions"
BATCH_URL = "/api/v1/predictions/batch"


def body(model, external_id: str, label: str, scores: dict | None, confidence: float = 0.95):
    """Confident enough to pass the default policy (0.70, fraud 0.80) on its own."""
    output = {"label": label} if scores is None else {"label": label, "scores": scores}
    return {**envelope_for(model, external_id), "output": output, "confidence": confidence}


def post(api, payload, url: str = URL):
    return api.post(url, json.dumps(payload), content_type="application/json")


def route(response) -> Prediction:
    pk = response.json()["id"]
    assert predictions_route(ids=[pk]) == 1
    return Prediction.objects.get(pk=pk)


def strict(model, on: bool = True):
    # The governed path (a model_settings version) is tested in tests/governance; here the
    # row's value is what ingest reads. save() clears the ingest catalogue cache.
    model.strict_output = on
    model.save(update_fields=["strict_output"])
    return model


# --- routed to review (the model is not strict) -----------------------------------------------
def test_a_label_its_scores_contradict_is_routed_with_the_reason(api, fraud_model):
    """The issue's case: label fraud, confidence 0.95, fraud scored 0.1. Passed before."""
    response = post(api, body(fraud_model, "bad", "fraud", {"fraud": 0.1, "legit": 0.9}))
    assert response.status_code == 202, response.content
    prediction = route(response)
    assert prediction.routed is True
    assert prediction.reason_codes == ["inconsistent_output"]
    assert prediction.status == Prediction.Status.IN_REVIEW
    assert ReviewItem.objects.filter(prediction=prediction, purpose="routed").exists()
    assert prediction.reason_details["inconsistent_output"] == {
        "label": "fraud",
        "top_scores": {"legit": 0.9, "fraud": 0.1},
    }
    # The producer's confidence stays its own: stored as sent, not replaced by the score.
    assert prediction.confidence == 0.95
    # The facts routing read include the summary, so replay needs no output.
    assert prediction.routing_facts["top_scores"] == {"legit": 0.9, "fraud": 0.1}


def test_the_reason_joins_the_policys_own_reasons(api, fraud_model):
    response = post(
        api, body(fraud_model, "low", "fraud", {"fraud": 0.45, "legit": 0.55}, confidence=0.45)
    )
    prediction = route(response)
    assert prediction.reason_codes == ["low_confidence", "inconsistent_output"]


@pytest.mark.parametrize(
    ("label", "scores"),
    [
        ("fraud", {"fraud": 0.5, "legit": 0.5}),  # a tie for the highest agrees
        ("fraud", {"fraud": 0.95, "legit": 0.05}),
        ("legit", {"legit": 1}),  # an integer score
        ("fraud", None),  # no scores: nothing to check
        ("fraud", {}),  # an empty object too
    ],
    ids=["tie", "arg-max", "int", "no-scores", "empty-scores"],
)
def test_consistent_or_unscored_outputs_pass(api, fraud_model, label, scores):
    prediction = route(post(api, body(fraud_model, "ok", label, scores)))
    assert prediction.routed is False and prediction.reason_codes == []


def test_a_label_without_a_score_among_scores_is_inconsistent(api, fraud_model):
    prediction = route(post(api, body(fraud_model, "none", "fraud", {"legit": 0.9})))
    assert prediction.reason_codes == ["inconsistent_output"]
    assert prediction.reason_details["inconsistent_output"]["top_scores"] == {"legit": 0.9}


# --- refused under strict ---------------------------------------------------------------------
def test_a_strict_model_refuses_it_with_a_400_naming_both_fields(api, fraud_model):
    strict(fraud_model)
    before = Prediction.objects.count()
    response = post(api, body(fraud_model, "bad", "fraud", {"fraud": 0.1, "legit": 0.9}))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"output.label", "output.scores"}
    assert "'fraud'" in errors["output.label"][0] and "strict" in errors["output.label"][0]
    assert "'legit' (0.9)" in errors["output.scores"][0]
    assert Prediction.objects.count() == before
    # A consistent one is still accepted; a tie too.
    assert (
        post(api, body(fraud_model, "good", "legit", {"fraud": 0.1, "legit": 0.9})).status_code
        == 202
    )
    assert (
        post(api, body(fraud_model, "tie", "fraud", {"fraud": 0.5, "legit": 0.5})).status_code
        == 202
    )
    assert post(api, body(fraud_model, "unscored", "fraud", None)).status_code == 202


def test_a_strict_batch_refuses_only_that_item(api, fraud_model):
    strict(fraud_model)
    items = [
        body(fraud_model, "b-1", "legit", {"fraud": 0.1, "legit": 0.9}),
        body(fraud_model, "b-2", "fraud", {"fraud": 0.1, "legit": 0.9}),
        body(fraud_model, "b-3", "fraud", {"fraud": 0.8, "legit": 0.2}),
    ]
    response = post(api, {"predictions": items}, BATCH_URL)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "error", "accepted"]
    assert set(results[1]["errors"]) == {"output.label", "output.scores"}
    assert results[1]["id"] is None
    assert set(Prediction.objects.values_list("external_id", flat=True)) == {"b-1", "b-3"}


def test_strict_is_checked_after_the_tokens_permission(fraud_model):
    """A token not allowed for the model hears 403 about the model, not about its output."""
    from rest_framework.test import APIClient

    from reviewapp.services.accounts import service_account_create
    from tests.factories import MLModelFactory, make_policy

    other = MLModelFactory(slug="other", labels=["a", "b"])
    make_policy(other, {**envelope_rules(), "min_confidence_by_label": {}})
    strict(fraud_model)
    token = service_account_create(
        name="other-only", model_slugs=["other"], actor=Actor.system("tests")
    ).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = post(client, body(fraud_model, "x", "fraud", {"fraud": 0.1, "legit": 0.9}))
    assert response.status_code == 403 and set(response.json()["errors"]) == {"model"}


def envelope_rules() -> dict:
    from tests.factories import DEFAULT_RULES

    return dict(DEFAULT_RULES)


def test_a_published_envelope_to_a_strict_model_is_kept_as_rejected(fraud_model, service_token):
    strict(fraud_model)
    envelope = body(fraud_model, "task", "fraud", {"fraud": 0.1, "legit": 0.9})
    assert prediction_ingest_published(envelope=envelope, service_account="producer") is None
    rejected = RejectedEnvelope.objects.get()
    assert rejected.status_code == 400
    assert set(rejected.errors) == {"output.label", "output.scores"}
    assert not Prediction.objects.exists()


def test_turning_strict_off_routes_again(api, fraud_model):
    strict(fraud_model)
    payload = body(fraud_model, "flip", "fraud", {"fraud": 0.1, "legit": 0.9})
    assert post(api, payload).status_code == 400
    strict(fraud_model, on=False)
    assert route(post(api, payload)).reason_codes == ["inconsistent_output"]


# --- replay -----------------------------------------------------------------------------------
def test_replay_reproduces_the_check_from_the_stored_facts(api, fraud_model):
    prediction = route(post(api, body(fraud_model, "rp", "fraud", {"fraud": 0.1, "legit": 0.9})))
    replay = routing_replay(prediction)
    assert replay.facts == "stored"
    assert replay.matches, replay.differences
    assert replay.replayed.reasons == ["inconsistent_output"]
    # The stored facts, not the live output, decide: a row whose output was since rewritten
    # replays the same (routing's record never changes).
    PredictionPayload.objects.filter(prediction_id=prediction.pk).update(
        output={"label": "fraud", "scores": {"fraud": 0.99}}
    )
    again = routing_replay(Prediction.objects.get(pk=prediction.pk))
    assert again.matches and again.replayed.reasons == ["inconsistent_output"]


def test_a_record_from_before_the_check_replays_without_it(api, fraud_model):
    """Facts stored before the check existed have no ``top_scores``: replay adds no reason."""
    prediction = route(post(api, body(fraud_model, "old", "fraud", {"fraud": 0.9, "legit": 0.1})))
    facts = dict(prediction.routing_facts)
    facts.pop("top_scores")
    Prediction.objects.filter(pk=prediction.pk).update(routing_facts=facts)
    replay = routing_replay(Prediction.objects.get(pk=prediction.pk))
    assert replay.matches and replay.replayed.reasons == []


# --- the review page --------------------------------------------------------------------------
def test_the_review_page_says_what_disagrees(client, api, fraud_model):
    post(api, body(fraud_model, "page", "fraud", {"fraud": 0.45, "legit": 0.55}, confidence=0.9))
    route_all()
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    item = review_item_claim_next(user=ana)
    client.force_login(ana)
    page = html.unescape(client.get(reverse("queue:review", args=[item.pk])).content.decode())
    assert (
        "The model's label is fraud, but its scores rank legit highest (legit 0.55 · fraud 0.45)"
        in page
    )


def test_the_queue_filters_and_names_the_reason(client, api, fraud_model, lead):
    post(api, body(fraud_model, "f-1", "fraud", {"fraud": 0.1, "legit": 0.9}))
    post(api, body(fraud_model, "f-2", "fraud", {"fraud": 0.9, "legit": 0.1}, confidence=0.3))
    route_all()
    client.force_login(lead)
    page = client.get(reverse("queue:list"), {"reason": "inconsistent_output"}).content.decode()
    assert "Label disagrees with the model&#x27;s own scores" in page
    item_of = dict(ReviewItem.objects.values_list("prediction__external_id", "pk"))
    assert reverse("queue:item", args=[item_of["f-1"]]) in page
    assert reverse("queue:item", args=[item_of["f-2"]]) not in page


def route_all() -> None:
    ids = list(Prediction.objects.filter(status="received").values_list("id", flat=True))
    predictions_route(ids=ids)

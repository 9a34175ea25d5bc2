"""Replay of one prediction's routing: GET /api/v1/predictions/{id}/replay and the item page's
"Replay routing" button. The prediction's own visibility rule applies to both."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from reviewapp.core.audit import Actor
from reviewapp.models import PoolMembership, Prediction
from reviewapp.services.accounts import service_account_create
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route
from tests.factories import MLModelFactory, UserFactory, envelope_for, make_policy

pytestmark = pytest.mark.django_db


def _routed(model, external_id: str, confidence: float = 0.4) -> Prediction:
    [result] = prediction_batch_ingest(
        envelopes=[{**envelope_for(model, external_id), "confidence": confidence}],
        account=None,
        actor=Actor.system("tests"),
        enqueue=False,
    )
    assert predictions_route(ids=[result.id]) == 1
    return Prediction.objects.prefetch_related("review_items").get(pk=result.id)


@pytest.fixture
def radiology(db):
    model = MLModelFactory(slug="chest-xray", labels=["fraud", "legit"])
    make_policy(model)
    return model


@pytest.fixture
def routed(fraud_model):
    return _routed(fraud_model, "txn-replay")


@pytest.fixture
def ana(fraud_model):
    user = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=user)
    return user


@pytest.fixture
def ravi(radiology):
    user = UserFactory(username="ravi", roles=["reviewer"])
    PoolMembership.objects.create(model=radiology, user=user)
    return user


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _token_client(slugs) -> APIClient:
    token = service_account_create(
        name=f"p-{'-'.join(slugs or ['all'])}", model_slugs=slugs, actor=Actor.system("tests")
    ).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _url(prediction) -> str:
    return f"/api/v1/predictions/{prediction.pk}/replay"


# --- API -------------------------------------------------------------------------------------
def test_api_answers_recorded_beside_replayed(ana, routed):
    body = _client(ana).get(_url(routed)).json()
    assert set(body) == {
        "prediction",
        "model",
        "policy_version",
        "facts",
        "recorded",
        "replayed",
        "matches",
        "differences",
    }
    assert body["prediction"] == routed.pk and body["model"] == "card-fraud"
    assert body["policy_version"] == routed.policy_version.version
    assert body["facts"] == "stored"
    assert body["matches"] is True and body["differences"] == []
    assert body["recorded"] == body["replayed"]
    side = body["recorded"]
    assert set(side) == {
        "routed",
        "reasons",
        "details",
        "threshold",
        "fallback",
        "policy_hash",
        "sla_due_at",
        "mode",
        "mode_sample",
    }
    assert side["routed"] is True and side["reasons"] == ["low_confidence"]
    assert side["policy_hash"] == routed.policy_hash
    assert side["sla_due_at"].endswith("Z")
    assert side["mode"] == "normal" and side["mode_sample"] is False


def test_api_visibility_is_the_predictions(ana, ravi, lead, engineer, routed, radiology):
    # Outside the pool: the same 404 as an id that does not exist.
    outside = _client(ravi).get(_url(routed))
    assert outside.status_code == 404
    assert outside.json() == _client(ravi).get("/api/v1/predictions/999999/replay").json()
    assert _client(ravi).get(f"/api/v1/predictions/{routed.pk}").status_code == 404
    for reader in (ana, lead, engineer):
        assert _client(reader).get(_url(routed)).status_code == 200
    # Service tokens: their own models only, like GET /predictions/{id}.
    assert _token_client(["card-fraud"]).get(_url(routed)).status_code == 200
    other = _token_client(["chest-xray"])
    assert other.get(_url(routed)).status_code == 404
    assert other.get(f"/api/v1/predictions/{routed.pk}").status_code == 404
    assert _token_client(None).get(_url(routed)).status_code == 200
    assert APIClient().get(_url(routed)).status_code in (401, 403)


def test_api_a_tampered_fact_is_a_mismatch(ana, routed):
    facts = dict(routed.routing_facts)
    facts["confidence"] = 0.99  # the model "said" something else than what routing read
    Prediction.objects.filter(pk=routed.pk).update(routing_facts=facts)
    body = _client(ana).get(_url(routed)).json()
    assert body["matches"] is False
    assert "routed" in body["differences"] and "reasons" in body["differences"]
    assert body["recorded"]["routed"] is True and body["replayed"]["routed"] is False


def test_api_an_unrouted_prediction_is_a_conflict(ana, fraud_model):
    [result] = prediction_batch_ingest(
        envelopes=[envelope_for(fraud_model, "waiting")],
        account=None,
        actor=Actor.system("tests"),
        enqueue=False,
    )
    response = _client(ana).get(f"/api/v1/predictions/{result.id}/replay")
    assert response.status_code == 409
    assert "not been routed" in response.json()["errors"]["detail"][0]


def test_api_is_in_the_openapi_schema(lead):
    schema = _client(lead).get("/api/schema/", HTTP_ACCEPT="application/json")
    if schema.status_code != 200:
        pytest.skip("schema served elsewhere")
    assert "/api/v1/predictions/{id}/replay" in schema.json()["paths"]


# --- the item page's button and the comparison page ---------------------------------------------
def test_item_page_has_the_button_and_the_page_shows_the_comparison(client, ana, routed):
    item = routed.review_item
    client.force_login(UserFactory(username="sam", roles=["engineer"]))
    page = client.get(f"/queue/items/{item.pk}/").content.decode()
    assert f'href="/queue/items/{item.pk}/replay/"' in page and "Replay routing" in page
    # Reviewers get no button on any item: a blind item's replay would show its source
    # (docs/quality/blind.md); a live item's page still answers them.
    client.force_login(ana)
    assert "Replay routing" not in client.get(f"/queue/items/{item.pk}/").content.decode()
    replay = client.get(f"/queue/items/{item.pk}/replay/")
    assert replay.status_code == 200
    html = replay.content.decode()
    assert "matches" in html and "does not match" not in html
    assert "Recorded" in html and "Replayed" in html
    assert 'class="differs"' not in html
    assert f"v{routed.policy_version.version}" in html


def test_the_page_shows_a_tampered_fact_as_a_mismatch(client, ana, routed):
    facts = dict(routed.routing_facts)
    facts["confidence"] = 0.99
    Prediction.objects.filter(pk=routed.pk).update(routing_facts=facts)
    client.force_login(ana)
    html = client.get(f"/queue/items/{routed.review_item.pk}/replay/").content.decode()
    assert "does not match" in html
    assert 'class="differs" data-field="routed"' in html
    assert 'class="differs" data-field="reasons"' in html
    assert 'class="" data-field="policy_hash"' in html


def test_the_page_follows_the_items_visibility(client, ravi, routed):
    client.force_login(ravi)
    assert client.get(f"/queue/items/{routed.review_item.pk}/replay/").status_code == 404
    committee = UserFactory(username="cora", roles=["committee"])
    client.force_login(committee)
    assert client.get(f"/queue/items/{routed.review_item.pk}/replay/").status_code == 403

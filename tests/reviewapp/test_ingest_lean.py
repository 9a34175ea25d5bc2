"""POST /api/v1/predictions takes a lean path with a service token (no DRF wrapping): every
answer it gives must equal what the DRF view gives for the same request, and everything else
goes to the DRF view unchanged."""

from __future__ import annotations

import json

import pytest
from django.test import Client, RequestFactory, override_settings

from reviewapp.api import ingest as ingest_api
from reviewapp.core.audit import Actor
from reviewapp.models import Prediction
from reviewapp.services.accounts import service_account_create
from tests.factories import MLModelFactory, UserFactory, envelope_for, make_policy

URL = "/api/v1/predictions"
pytestmark = pytest.mark.django_db


@pytest.fixture
def token(fraud_model) -> str:
    return service_account_create(
        name="lean-producer", model_slugs=None, actor=Actor.system("tests")
    ).token


@pytest.fixture
def lean_calls(monkeypatch) -> list[int]:
    """Counts the requests the lean path answered."""
    calls: list[int] = []
    real = ingest_api._lean_post

    def spy(request, account):
        calls.append(account.pk)
        return real(request, account)

    monkeypatch.setattr(ingest_api, "_lean_post", spy)
    return calls


def post(body, token: str | None, **headers):
    if not isinstance(body, str | bytes):
        body = json.dumps(body)
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Token {token}"
    return Client().post(URL, body, content_type="application/json", **headers)


def drf_answer(body, token: str):
    """What PredictionsView itself answers to the same request."""
    if not isinstance(body, str | bytes):
        body = json.dumps(body)
    request = RequestFactory().post(
        URL, body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
    )
    response = ingest_api.PredictionsView.as_view()(request)
    response.render()
    return response.status_code, json.loads(response.content)


def test_a_service_token_takes_the_lean_path_and_gets_the_same_202(fraud_model, token, lean_calls):
    response = post(envelope_for(fraud_model, "lean-1"), token, HTTP_X_REQUEST_ID="req-lean-1")
    assert response.status_code == 202
    assert lean_calls, "the lean path answered"
    assert response["Content-Type"] == "application/json"
    assert response["X-Request-ID"] == "req-lean-1"
    body = response.json()
    assert set(body) == {"id", "status", "url", "model_mode"}
    assert (body["status"], body["model_mode"]) == ("received", "normal")
    assert body["url"] == f"http://testserver/api/v1/predictions/{body['id']}"
    row = Prediction.objects.get(pk=body["id"])
    assert (row.submitted_by.name, row.request_id) == ("lean-producer", "req-lean-1")
    # The producer's token reads the record the url names.
    read = Client().get(body["url"], HTTP_AUTHORIZATION=f"Token {token}")
    assert read.json()["external_id"] == "lean-1"


def test_any_accept_header_still_gets_json(fraud_model, token, lean_calls):
    response = post(envelope_for(fraud_model, "lean-html"), token, HTTP_ACCEPT="text/html")
    assert response.status_code == 202
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "malformed",
        "not an object",
        "bad confidence",
        "unknown model",
        "unknown field",
        "nan",
        "duplicate",
        "forbidden model",
    ],
)
def test_every_answer_equals_the_drf_views(case, fraud_model, token, lean_calls):
    other = MLModelFactory(slug="other-model")
    make_policy(other)
    restricted = service_account_create(
        name="narrow", model_slugs=[other.slug], actor=Actor.system("tests")
    ).token
    sender = token
    good = envelope_for(fraud_model, f"case-{case}")
    body = {
        "empty": b"",
        "malformed": b'{"model": ',
        "not an object": b"[1, 2]",
        "bad confidence": {**good, "confidence": 3},
        "unknown model": {**good, "model": "no-such-model"},
        "unknown field": {**good, "reviewer": "me"},
        "nan": json.dumps(good).replace('"confidence": 0.55', '"confidence": NaN'),
        "duplicate": good,
        "forbidden model": good,
    }[case]
    if case == "duplicate":
        assert post(good, token).status_code == 202
    if case == "forbidden model":
        sender = restricted
    before = Prediction.objects.count()

    lean = post(body, sender)
    assert lean_calls, "the lean path answered"
    after_lean = Prediction.objects.count()
    status, drf_body = drf_answer(body, sender)

    assert lean.status_code == status
    assert lean.json() == drf_body
    if case != "duplicate":
        assert lean.status_code >= 400
        assert after_lean == before, "a refused request stores nothing"
        assert list(lean.json()["errors"]), "the error names a field"
    else:
        assert lean.json()["duplicate"] is True


def test_an_oversized_body_is_refused_the_same_way(fraud_model, token, lean_calls):
    body = {**envelope_for(fraud_model, "big"), "input": {"blob": "x" * 600}}
    with override_settings(INGEST_MAX_BODY_BYTES=500):
        lean = post(body, token)
        status, drf_body = drf_answer(body, token)
    assert (lean.status_code, lean.json()) == (status, drf_body)
    assert lean.status_code == 413


@pytest.mark.parametrize(
    "header", ["", "Token", "Token a b", "Token not-a-token", "Bearer abc", "Token \u00e9"]
)
def test_without_a_valid_service_token_the_drf_view_answers(fraud_model, header, lean_calls):
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = Client().post(
        URL,
        json.dumps(envelope_for(fraud_model, "anon")),
        content_type="application/json",
        **headers,
    )
    assert not lean_calls
    assert response.status_code in {401, 403}
    assert "errors" in response.json()
    assert not Prediction.objects.exists()


def test_a_signed_in_person_is_refused_by_the_drf_view(fraud_model, lean_calls):
    user = UserFactory(username="lee", roles=["lead"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(
        URL, json.dumps(envelope_for(fraud_model, "person")), content_type="application/json"
    )
    assert not lean_calls
    assert response.status_code == 403
    assert not Prediction.objects.exists()


def test_get_still_goes_through_the_drf_view(fraud_model, token, lean_calls):
    assert post(envelope_for(fraud_model, "find-me"), token).status_code == 202
    lean_calls.clear()
    response = Client().get(
        URL,
        {"model": fraud_model.slug, "external_id": "find-me"},
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 200
    assert response.json()["external_id"] == "find-me"
    assert not lean_calls


def test_the_schema_still_describes_the_post():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/predictions"]["post"]
    assert operation["operationId"] == "predictions_create"
    assert "202" in operation["responses"]

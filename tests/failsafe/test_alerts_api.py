"""GET /api/v1/alerts and POST /api/v1/alerts/{id}/acknowledge: the fixed contract."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.failsafe.models import Alert
from reviewapp.models import PoolMembership
from tests.factories import MLModelFactory, UserFactory

from .alert_helpers import make_alert

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def errors(response) -> dict:
    body = response.json()
    assert set(body) == {"errors"}, body
    return body["errors"]


@pytest.fixture
def other_model(db):
    return MLModelFactory(slug="churn")


@pytest.fixture
def alerts(fraud_model, other_model):
    now = timezone.now()
    resolved = make_alert(fraud_model, monitor="ood_rate", state="resolved", resolved_at=now)
    acked = make_alert(fraud_model, monitor="override_rate", state="acknowledged", severity="S2")
    opened = make_alert(fraud_model, minutes_ago=10)
    churn = make_alert(other_model, monitor="silence", severity="S2", shape="spike")
    return {"open": opened, "acked": acked, "resolved": resolved, "churn": churn}


def test_the_list_is_open_first_and_filters_by_model_and_state(lead, alerts):
    body = client_for(lead).get("/api/v1/alerts").json()
    assert body["count"] == 4
    states = [row["state"] for row in body["results"]]
    assert states == ["open", "open", "acknowledged", "resolved"]
    first = body["results"][0]
    assert set(first) >= {
        "id", "model", "monitor", "severity", "shape", "state", "value", "bound", "since",
        "action_taken", "acknowledged_by", "acknowledged_at", "resolved_at", "link",
    }  # fmt: skip

    body = client_for(lead).get("/api/v1/alerts?model=card-fraud&state=open").json()
    assert [row["id"] for row in body["results"]] == [alerts["open"].pk]
    body = client_for(lead).get("/api/v1/alerts?limit=1&offset=1").json()
    assert body["count"] == 4 and len(body["results"]) == 1 and body["next"] and body["previous"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("state=closed", "state"), ("model=nope", "model"), ("severity=S9", "severity"),
     ("offset=%C2%B2", "offset")],
)  # fmt: skip
def test_bad_parameters_are_a_400_naming_them(lead, alerts, query, field):
    response = client_for(lead).get(f"/api/v1/alerts?{query}")
    assert response.status_code == 400
    assert field in errors(response)


def test_a_reviewer_reads_only_their_pools_models(alerts, fraud_model):
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    body = client_for(ana).get("/api/v1/alerts").json()
    assert {row["model"] for row in body["results"]} == {"card-fraud"}
    # Another model's slug reads as unknown: no probing for what exists.
    response = client_for(ana).get("/api/v1/alerts?model=churn")
    assert response.status_code == 400 and "model" in errors(response)


def test_service_tokens_and_catalog_editors_may_not_read_alerts(api, alerts):
    assert api.get("/api/v1/alerts").status_code == 403
    editor = UserFactory(username="ed", roles=["catalog_editor"])
    assert client_for(editor).get("/api/v1/alerts").status_code == 403
    assert APIClient().get("/api/v1/alerts").status_code in (401, 403)


def test_acknowledge_answers_the_alert(lead, alerts):
    alert = alerts["open"]
    response = client_for(lead).post(
        f"/api/v1/alerts/{alert.pk}/acknowledge", {"note": "paging data team"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == alert.pk and body["state"] == "acknowledged"
    assert body["acknowledged_by"] == "lee" and body["acknowledge_note"] == "paging data team"
    assert body["acknowledged_at"].endswith("Z")


def test_acknowledge_without_a_body_is_fine(engineer, alerts):
    response = client_for(engineer).post(f"/api/v1/alerts/{alerts['open'].pk}/acknowledge")
    assert response.status_code == 200 and response.json()["acknowledge_note"] == ""


@pytest.mark.parametrize("which", ["acked", "resolved"])
def test_acknowledging_an_acknowledged_or_resolved_alert_is_a_409(lead, alerts, which):
    response = client_for(lead).post(f"/api/v1/alerts/{alerts[which].pk}/acknowledge")
    assert response.status_code == 409
    message = errors(response)["state"][0]
    assert ("acknowledged" if which == "acked" else "resolved") in message


def test_acknowledge_refuses_other_roles_tokens_unknown_ids_and_bad_bodies(api, lead, alerts):
    url = f"/api/v1/alerts/{alerts['open'].pk}/acknowledge"
    assert api.post(url).status_code == 403
    for role in ("reviewer", "committee"):
        user = UserFactory(username=f"u-{role}", roles=[role])
        assert client_for(user).post(url).status_code == 403
    assert client_for(lead).post("/api/v1/alerts/999999/acknowledge").status_code == 404
    response = client_for(lead).post(url, {"note": "x", "state": "resolved"}, format="json")
    assert response.status_code == 400 and "state" in errors(response)
    response = client_for(lead).post(url, {"note": "x" * 2001}, format="json")
    assert response.status_code == 400 and "note" in errors(response)
    assert Alert.objects.get(pk=alerts["open"].pk).state == "open"


def test_the_operations_are_in_the_openapi_schema(lead):
    schema = client_for(lead).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "get" in paths["/api/v1/alerts"]
    ack = paths["/api/v1/alerts/{id}/acknowledge"]["post"]
    assert {"200", "403", "404", "409"} <= set(ack["responses"])


def test_within_a_state_the_most_severe_comes_first(lead, fraud_model):
    s3 = make_alert(fraud_model, monitor="ood_rate", severity="S3", minutes_ago=5)
    s1 = make_alert(fraud_model, severity="S1", minutes_ago=50)
    body = client_for(lead).get("/api/v1/alerts?state=open").json()
    assert [row["id"] for row in body["results"]] == [s1.pk, s3.pk]


def test_an_odd_rule_still_answers_in_the_documented_shape(lead, fraud_model, client):
    odd = make_alert(
        fraud_model, rule={"metric": None, "op": ">", "bound": "0.2", "duration_minutes": 7.5}
    )
    body = client_for(lead).get("/api/v1/alerts").json()["results"][0]
    assert body["metric"] == "uncertain_rate" and body["bound"] is None
    assert body["duration_minutes"] == 7
    client.force_login(lead)
    assert client.get(f"/failsafe/alerts/{odd.pk}/").status_code == 200

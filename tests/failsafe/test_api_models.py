"""GET /api/v1/models/{slug} and POST /api/v1/models/{slug}/mode: the fixed contract, who may
read and who may switch, and every refusal's code and field."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reviewapp.core import registry
from reviewapp.core.audit import Actor
from reviewapp.core.models import AuditEvent
from reviewapp.failsafe.models import Alert, ModeChange
from reviewapp.failsafe.monitors import DEFAULT_MONITORS
from reviewapp.failsafe.services.modes import MAY_STOP_HOOK, mode_change
from reviewapp.models import ModelMode
from reviewapp.services.accounts import service_account_create
from tests.factories import MLModelFactory, UserFactory

from .modes_helpers import bearer_client, session_client, switch, token_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/card-fraud"
MODE_URL = URL + "/mode"
LIST_FIELDS = {"slug", "name", "owner_team", "criticality", "labels", "strict_output"}
MODE_FIELDS = {"mode", "mode_since", "mode_reason", "mode_review_by", "monitors", "owners"}


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# --- GET ------------------------------------------------------------------------------------
def test_get_has_the_list_fields_plus_mode_and_monitors(api, fraud_model):
    body = api.get(URL).json()
    listed = next(m for m in api.get("/api/v1/models").json() if m["slug"] == "card-fraud")
    assert set(body) == LIST_FIELDS | MODE_FIELDS
    assert {k: body[k] for k in LIST_FIELDS} == listed
    assert body["mode"] == "normal"
    assert body["mode_since"] is None and body["mode_review_by"] is None
    assert body["mode_reason"] == ""
    # The model has no monitors version: the default monitors, judged on no traffic yet.
    assert body["monitors"] == [
        {"name": m["name"], "state": "no_data", "value": None, "bound": m["bound"],
         "severity": m["severity"]}
        for m in DEFAULT_MONITORS
    ]  # fmt: skip


def test_get_shows_a_containment(api, fraud_model, lead):
    review_by = timezone.now() + dt.timedelta(hours=2)
    switch(fraud_model, "contained", lead, reason="Drift in amounts.", review_by=review_by)
    row = ModelMode.objects.get(model=fraud_model)
    body = api.get(URL).json()
    assert body["mode"] == "contained"
    assert body["mode_reason"] == "Drift in amounts."
    assert body["mode_since"] == iso(row.since)
    assert body["mode_review_by"] == iso(review_by)
    assert [m["name"] for m in body["monitors"]] == [m["name"] for m in DEFAULT_MONITORS]


def test_every_role_reads_a_model_and_tokens_only_their_own(fraud_model, lead, reviewer, engineer):
    other = MLModelFactory(slug="churn")
    committee = UserFactory(username="cole", roles=["committee"])
    for user in (lead, reviewer, engineer, committee):
        assert session_client(user).get(URL).status_code == 200, user
    assert bearer_client(engineer).get(URL).status_code == 200
    limited = service_account_create(
        name="churn-only", model_slugs=["churn"], actor=Actor.system("tests")
    ).token
    client = token_client(limited)
    assert client.get("/api/v1/models/churn").json()["slug"] == other.slug
    hidden = client.get(URL)
    unknown = client.get("/api/v1/models/no-such-model")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json() == {"errors": {"slug": ["No such model."]}}


def test_get_needs_a_caller(fraud_model):
    from rest_framework.test import APIClient

    assert APIClient().get(URL).status_code in (401, 403)
    nobody = UserFactory(username="nobody")
    assert session_client(nobody).get(URL).status_code == 403


# --- POST: who may switch -------------------------------------------------------------------
def test_a_lead_contains_and_gets_the_model_as_get_shows_it(fraud_model, lead):
    client = session_client(lead)
    response = client.post(MODE_URL, {"mode": "contained", "reason": "Escapes."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == client.get(URL).json()
    assert response.json()["mode"] == "contained"
    change = ModeChange.objects.get()
    assert (change.from_mode, change.to_mode, change.actor, change.reason) == (
        "normal", "contained", lead, "Escapes."
    )  # fmt: skip
    assert AuditEvent.objects.filter(
        verb="failsafe.model_mode.changed", target_id=str(fraud_model.pk)
    ).exists()


def test_a_lead_with_a_personal_token_halts_with_a_review_time(fraud_model, lead):
    review_by = timezone.now() + dt.timedelta(hours=1)
    response = bearer_client(lead).post(
        MODE_URL,
        {"mode": "halted", "reason": "Outage upstream.", "review_by": review_by.isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["mode"] == "halted" and body["mode_review_by"] == iso(review_by)


@pytest.mark.parametrize("role", ["reviewer", "engineer", "committee"])
def test_other_roles_may_not_switch(fraud_model, role):
    user = UserFactory(username=f"someone-{role}", roles=[role])
    for client in (session_client(user), bearer_client(user)):
        response = client.post(MODE_URL, {"mode": "contained", "reason": "x"}, format="json")
        assert response.status_code == 403, response.content
        assert "errors" in response.json()
    assert not ModelMode.objects.exists() and not ModeChange.objects.exists()


def test_a_service_token_may_not_switch(api, fraud_model):
    response = api.post(MODE_URL, {"mode": "contained", "reason": "x"}, format="json")
    assert response.status_code == 403
    assert "errors" in response.json()
    assert not ModelMode.objects.exists()


def test_an_incident_commander_may_contain_but_not_lift(fraud_model, lead):
    """The may-stop hook (the playbooks part, faked here) lets a person stop a model; only a
    lead lifts."""
    commander = UserFactory(username="ina", roles=["engineer"])

    def commands(*, user, model, mode):
        return user.pk == commander.pk

    registry.register_hook(MAY_STOP_HOOK, commands)
    try:
        client = session_client(commander)
        contain = client.post(MODE_URL, {"mode": "contained", "reason": "INC-7"}, format="json")
        assert contain.status_code == 200, contain.content
        lift = client.post(MODE_URL, {"mode": "normal", "reason": "fixed"}, format="json")
        assert lift.status_code == 403
        assert ModelMode.objects.get().mode == "contained"
    finally:
        registry.unregister_hook(MAY_STOP_HOOK, commands)
    lifted = session_client(lead).post(MODE_URL, {"mode": "normal", "reason": "Fixed."})
    assert lifted.status_code == 200 and lifted.json()["mode"] == "normal"
    assert lifted.json()["mode_review_by"] is None


# --- POST: bad input and conflicts ----------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "contained"}, "reason"),
        ({"mode": "contained", "reason": "   "}, "reason"),
        ({"mode": "paused", "reason": "x"}, "mode"),
        ({"reason": "x"}, "mode"),
        ({"mode": "contained", "reason": "x", "review_by": "tomorrow"}, "review_by"),
        ({"mode": "contained", "reason": "x", "review_by": "2020-01-01T00:00:00Z"}, "review_by"),
        ({"mode": "normal", "reason": "x", "review_by": "2999-01-01T00:00:00Z"}, "review_by"),
        ({"mode": "contained", "reason": "x", "owner": 3}, "owner"),
        ({"mode": "contained", "reason": "x" * 2001}, "reason"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(fraud_model, lead, body, field):
    if body.get("mode") == "normal":
        switch(fraud_model, "contained", lead)
    before = ModeChange.objects.count()
    response = session_client(lead).post(MODE_URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert ModeChange.objects.count() == before


def test_a_body_that_is_not_an_object_is_a_400(fraud_model, lead):
    response = session_client(lead).post(MODE_URL, "[1]", content_type="application/json")
    assert response.status_code == 400
    assert "errors" in response.json()


def test_unknown_model_is_a_404(lead):
    response = session_client(lead).post(
        "/api/v1/models/nope/mode", {"mode": "halted", "reason": "x"}, format="json"
    )
    assert response.status_code == 404
    assert response.json() == {"errors": {"slug": ["No such model."]}}


def test_the_same_mode_is_a_409(fraud_model, lead):
    client = session_client(lead)
    assert client.post(MODE_URL, {"mode": "normal", "reason": "x"}).status_code == 409
    client.post(MODE_URL, {"mode": "contained", "reason": "x"})
    again = client.post(MODE_URL, {"mode": "contained", "reason": "again"})
    assert again.status_code == 409
    assert "mode" in again.json()["errors"]
    assert ModeChange.objects.count() == 1


def test_lifting_an_automatic_containment_needs_the_alert_acknowledged(fraud_model, lead):
    alert = Alert.objects.create(
        model=fraud_model, monitor="uncertain_rate", rule={}, severity="S2",
        since=timezone.now(), shape=Alert.Shape.SHIFT,
    )  # fmt: skip
    mode_change(
        model=fraud_model, mode="contained", reason="Persistent shift.",
        monitor="uncertain_rate", rule={"bound": 0.3}, alert=alert,
    )  # fmt: skip
    client = session_client(lead)
    refused = client.post(MODE_URL, {"mode": "normal", "reason": "Looks fine."})
    assert refused.status_code == 409
    assert "alert" in refused.json()["errors"]
    assert ModelMode.objects.get().mode == "contained"

    Alert.objects.filter(pk=alert.pk).update(
        state=Alert.State.ACKNOWLEDGED, acknowledged_by=lead, acknowledged_at=timezone.now()
    )
    lifted = client.post(MODE_URL, {"mode": "normal", "reason": "Looks fine."})
    assert lifted.status_code == 200, lifted.content
    assert lifted.json()["mode"] == "normal"

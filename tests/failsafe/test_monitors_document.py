"""The monitors governed document: validation, a change request of its own kind, and kinds
kept apart (a monitors request never stales a policy request; a policy rollback never
restores monitors)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError
from reviewapp.failsafe.monitors import DEFAULT_MONITORS
from reviewapp.governance import describe, services
from reviewapp.governance.models import ChangeRequest, DocumentVersion, PolicyVersion
from reviewapp.governance.monitors import validate_monitors
from reviewapp.governance.services.documents import validate_document
from tests.factories import UserFactory
from tests.governance.cr_helpers import approve, proposal, submitted

pytestmark = pytest.mark.django_db
METRICS = {"anomaly_rate", "uncertain_rate"}
ONE = {
    "name": "anomalies", "metric": "anomaly_rate", "op": ">", "bound": 0.25,
    "duration_minutes": 15, "severity": "S2", "action": "contain",
}  # fmt: skip


@pytest.fixture
def committee(db):
    return [UserFactory(username=n, roles=["committee"]) for n in ("cora", "cole", "cleo")]


@pytest.fixture
def proposer(db):
    return UserFactory(username="sam", roles=["engineer"])


def test_a_valid_document_and_the_defaults_pass():
    assert validate_monitors({"monitors": [ONE]}, metric_names=METRICS) == {}
    assert validate_monitors({"monitors": []}, metric_names=METRICS) == {}
    assert (
        validate_document(
            kind="monitors", document={"monitors": list(DEFAULT_MONITORS)}, model_slug="x"
        )
        == {}
    )  # the real metric names, through the dashboards' hook


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"metric": "vibes"}, "monitors[0].metric"),
        ({"op": ">="}, "monitors[0].op"),
        ({"bound": "high"}, "monitors[0].bound"),
        ({"bound": True}, "monitors[0].bound"),
        ({"duration_minutes": 0}, "monitors[0].duration_minutes"),
        ({"duration_minutes": 2.5}, "monitors[0].duration_minutes"),
        ({"severity": "S5"}, "monitors[0].severity"),
        ({"action": "page"}, "monitors[0].action"),
        ({"resolve_minutes": -1}, "monitors[0].resolve_minutes"),
        ({"shift_sample_size": 10_000}, "monitors[0].shift_sample_size"),
        ({"colour": "red"}, "monitors[0].colour"),
        ({"name": "Has Spaces"}, "monitors[0].name"),
    ],
)
def test_each_problem_names_its_path(change, path):
    errors = validate_monitors({"monitors": [{**ONE, **change}]}, metric_names=METRICS)
    assert list(errors) == [path]


def test_document_level_problems():
    assert "monitors" in validate_monitors({}, metric_names=METRICS)
    assert "extra" in validate_monitors({"monitors": [], "extra": 1}, metric_names=METRICS)
    assert "monitors[1].name" in validate_monitors(
        {"monitors": [ONE, ONE]}, metric_names=METRICS
    )  # names are unique
    assert validate_monitors([ONE], metric_names=METRICS) == {"": ["Must be a JSON object."]}


def test_a_monitors_request_is_proposed_voted_applied_and_versioned(
    fraud_model, proposer, committee
):
    with pytest.raises(ServiceError) as caught:
        services.change_request_create(
            model_slug="card-fraud", kind="monitors", user=proposer, rationale="x",
            document={"monitors": [{**ONE, "op": "!"}]},
        )  # fmt: skip
    assert any(key.endswith("monitors[0].op") for key in caught.value.errors)
    cr, digest = submitted(fraud_model, proposer, {"monitors": [ONE]}, kind="monitors")
    assert cr.evidence_state == "ready"  # nothing to replay: the documents are the evidence
    approve(cr, committee[0], digest)
    cr = approve(cr, committee[1], digest)
    assert cr.status == ChangeRequest.Status.APPLIED and cr.applied_version == 1
    version = DocumentVersion.objects.get(model_slug="card-fraud", kind="monitors")
    assert version.is_active and version.document == {"monitors": [ONE]}
    assert len(version.document_hash) == 64
    assert PolicyVersion.objects.filter(model_slug="card-fraud").count() == 1


def test_kinds_never_stale_each_other(fraud_model, proposer, committee):
    policy_cr, policy_digest = submitted(fraud_model, proposer, proposal(min_confidence=0.8))
    monitors_cr, digest = submitted(fraud_model, proposer, {"monitors": [ONE]}, kind="monitors")
    approve(monitors_cr, committee[0], digest)
    assert approve(monitors_cr, committee[1], digest).status == "applied"
    policy_cr.refresh_from_db()
    assert not policy_cr.stale
    # ... and the other way round.
    second, digest2 = submitted(
        fraud_model, proposer, {"monitors": [{**ONE, "bound": 0.3}]}, kind="monitors"
    )
    approve(policy_cr, committee[0], policy_digest)
    assert approve(policy_cr, committee[1], policy_digest).status == "applied"
    second.refresh_from_db()
    assert not second.stale and second.base_version == 1


def test_a_policy_rollback_never_restores_monitors(fraud_model, proposer, committee, lead):
    services.change_request_bootstrap(
        model_slug="card-fraud", kind="monitors", document={"monitors": [ONE]},
        rationale="First monitors.", actor=Actor.system("install"),
    )  # fmt: skip
    policy_cr, digest = submitted(fraud_model, proposer, proposal(min_confidence=0.8))
    approve(policy_cr, committee[0], digest)
    approve(policy_cr, committee[1], digest)
    monitors_cr, digest = submitted(
        fraud_model, proposer, {"monitors": [{**ONE, "bound": 0.4}]}, kind="monitors"
    )
    approve(monitors_cr, committee[0], digest)
    approve(monitors_cr, committee[1], digest)
    services.emergency_rollback(
        model_slug="card-fraud", to_version=1, reason="Queue exploded.", user=lead
    )
    assert PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).version == 3
    active = DocumentVersion.objects.get(model_slug="card-fraud", kind="monitors", is_active=True)
    assert active.version == 2 and active.document["monitors"][0]["bound"] == 0.4


def test_the_diff_reads_monitors_by_name():
    rows = describe.diff({"monitors": [ONE]}, {"monitors": [{**ONE, "bound": 0.3}]})
    changed = [r for r in rows if r.change == "changed"]
    assert [r.path for r in changed] == ["monitors[anomalies].bound"]
    assert changed[0].label.startswith("Monitor anomalies: bound")


def test_the_propose_page_starts_a_first_version_from_the_defaults(client, fraud_model, proposer):
    client.force_login(proposer)
    url = f"{reverse('governance:propose')}?model=card-fraud&kind=monitors"
    response = client.get(url)
    assert response.status_code == 200
    rows = {r.path: r for r in response.context["rows"]}
    assert rows["monitors[0].name"].field.value() == "uncertain-rate"
    assert rows["monitors[4].action"].field.value() == "contain"
    assert "Monitors" in response.content.decode()


def test_the_api_accepts_a_monitors_request(fraud_model, proposer):
    api = APIClient()
    api.force_authenticate(proposer)
    body = {"model": "card-fraud", "kind": "monitors", "rules": {"monitors": [ONE]},
            "rationale": "Contain on schema breaks."}  # fmt: skip
    response = api.post("/api/v1/change-requests", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "monitors"
    bad = {**body, "rules": {"monitors": [{**ONE, "severity": "S9"}]}}
    response = api.post("/api/v1/change-requests", bad, format="json")
    assert response.status_code == 400 and "monitors[0].severity" in response.content.decode()


def test_the_history_and_version_pages_show_monitors_versions(client, fraud_model, lead):
    services.change_request_bootstrap(
        model_slug="card-fraud", kind="monitors", document={"monitors": [ONE]},
        rationale="First monitors.", actor=Actor.system("install"),
    )  # fmt: skip
    client.force_login(lead)
    response = client.get(reverse("governance:policy-history", args=["card-fraud"]))
    assert response.status_code == 200 and "Monitors" in response.content.decode()

import pytest
from rest_framework.test import APIClient

from reviewapp.models import Decision, ReviewItem

from . import test_queue_fixtures as fx

make_items = fx.make_items
pooled_reviewer = fx.pooled_reviewer
other_reviewer = fx.other_reviewer
pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def test_claim_decide_over_api(pooled_reviewer, fraud_model):
    make_items(fraud_model, 2)
    c = client_for(pooled_reviewer)
    listed = c.get("/api/v1/queue/items?status=pending").json()
    assert len(listed["results"]) == 2 and listed["has_next"] is False
    claimed = c.post("/api/v1/queue/claim").json()
    assert claimed["status"] == "claimed" and claimed["labels"] == ["fraud", "legit"]
    assert claimed["reasons"] == ["Confidence 0.55 below threshold 0.80"]
    bad = c.post(
        f"/api/v1/queue/items/{claimed['id']}/decide",
        {"action": "override", "generation": claimed["claim_generation"], "label": "dog"},
        format="json",
    )
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"label", "reason"}
    ok = c.post(
        f"/api/v1/queue/items/{claimed['id']}/decide",
        {
            "action": "override",
            "generation": claimed["claim_generation"],
            "label": "legit",
            "reason": "known",
        },
        format="json",
    )
    assert ok.status_code == 201 and ok.json()["final_label"] == "legit"
    again = c.post(
        f"/api/v1/queue/items/{claimed['id']}/decide",
        {"action": "accept", "generation": claimed["claim_generation"]},
        format="json",
    )
    assert again.status_code == 409 and "already decided" in again.json()["errors"]["detail"][0]
    assert Decision.objects.count() == 1


def test_api_roles_and_missing_fields(engineer, pooled_reviewer, other_reviewer, fraud_model, api):
    make_items(fraud_model, 1)
    assert client_for(engineer).post("/api/v1/queue/claim").status_code == 403
    assert api.post("/api/v1/queue/claim").status_code == 403  # a service token is not a reviewer
    held = client_for(pooled_reviewer).post("/api/v1/queue/claim").json()
    r = client_for(other_reviewer).post(
        f"/api/v1/queue/items/{held['id']}/decide",
        {"action": "accept", "generation": held["claim_generation"]},
        format="json",
    )
    assert r.status_code == 409
    r = client_for(pooled_reviewer).post(
        f"/api/v1/queue/items/{held['id']}/decide", {"action": "maybe"}, format="json"
    )
    assert r.status_code == 400 and {"action", "generation"} <= set(r.json()["errors"])
    assert client_for(other_reviewer).post("/api/v1/queue/claim").status_code == 204
    assert client_for(pooled_reviewer).get("/api/v1/queue/items?sla=soon").status_code == 400
    assert client_for(pooled_reviewer).get("/api/v1/queue/items/999999").status_code == 404
    assert ReviewItem.objects.get(pk=held["id"]).status == "claimed"


def test_unknown_failure_mode_tag_is_refused(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    c = client_for(pooled_reviewer)
    held = c.post("/api/v1/queue/claim").json()
    r = c.post(
        f"/api/v1/queue/items/{held['id']}/decide",
        {
            "action": "accept",
            "generation": held["claim_generation"],
            "failure_mode_tags": ["Not A Slug!"],
        },
        format="json",
    )
    assert r.status_code == 400 and "failure_mode_tags" in r.json()["errors"]

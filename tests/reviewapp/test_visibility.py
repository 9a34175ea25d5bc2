"""One visibility rule on every read path of predictions, review items, decisions, export rows.

Ravi reviews radiology only; Ana is in the card-fraud pool. Each read path is checked with the
reviewer outside the pool (404 or absent, never the record) and the one inside (the record).
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.test import APIClient

from reviewapp.core.audit import Actor
from reviewapp.delivery import services as delivery_services
from reviewapp.models import Decision, PoolMembership, Prediction, ReviewItem
from reviewapp.selectors.visibility import (
    decisions_visible_to,
    predictions_visible_to,
    review_items_visible_to,
    visible_model_ids,
)
from reviewapp.services.accounts import service_account_create
from tests.delivery.factories import make_decision, make_item
from tests.factories import MLModelFactory, UserFactory, make_policy

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


@pytest.fixture
def radiology(db):
    model = MLModelFactory(slug="chest-xray", labels=["fraud", "legit"])
    make_policy(model)
    return model


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


@pytest.fixture
def fraud_item(fraud_model):
    return make_item(fraud_model, external_id="txn-secret")


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _fresh(user):
    """The user as a new request loads it (no per-request caches)."""
    return type(user).objects.get(pk=user.pk)


# --- the rule ----------------------------------------------------------------------------------
def test_rule_by_role(fraud_model, radiology, ana, ravi, lead, engineer, fraud_item):
    committee = UserFactory(username="cm", roles=["committee"])
    assert visible_model_ids(ana) == {fraud_model.pk}
    assert visible_model_ids(ravi) == {radiology.pk}
    for sees_everything in (lead, engineer, committee):
        assert visible_model_ids(sees_everything) is None
    assert list(predictions_visible_to(_fresh(ravi))) == []
    assert list(predictions_visible_to(_fresh(ana))) == [fraud_item.prediction]
    assert list(review_items_visible_to(_fresh(ravi))) == []
    assert list(review_items_visible_to(_fresh(committee))) == [fraud_item]
    decision = make_decision(fraud_item, ana)
    assert list(decisions_visible_to(_fresh(ravi))) == []
    assert list(decisions_visible_to(_fresh(ana))) == [decision]


def test_an_item_you_hold_stays_readable_outside_your_pools(fraud_model, ana, ravi, fraud_item):
    ReviewItem.objects.filter(pk=fraud_item.pk).update(claimed_by=ravi, status="claimed")
    assert list(review_items_visible_to(_fresh(ravi))) == [fraud_item]
    assert list(predictions_visible_to(_fresh(ravi))) == []  # the rule for items only
    # Lists over the whole queue read by pool only (index order); the held item is served by
    # "Start reviewing" and its own page.
    assert list(review_items_visible_to(_fresh(ravi), held=False)) == []


def test_service_accounts_read_their_own_models_and_no_queue(fraud_model, radiology, fraud_item):
    own = service_account_create(
        name="xray-producer", model_slugs=["chest-xray"], actor=Actor.system("tests")
    ).account
    from reviewapp.auth import ServicePrincipal

    principal = ServicePrincipal(own)
    assert visible_model_ids(principal) == {radiology.pk}
    assert list(predictions_visible_to(principal)) == []
    assert list(review_items_visible_to(principal)) == []


# --- pages -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/queue/items/{id}/", "/queue/items/{id}/review/"])
def test_item_pages_404_outside_the_pool(client, ana, ravi, fraud_item, path):
    url = path.format(id=fraud_item.pk)
    client.force_login(ravi)
    outside = client.get(url)
    assert outside.status_code == 404  # not 403: existence is not revealed
    assert "912.5" not in outside.content.decode()  # the input's amount
    assert client.get(path.format(id=999999)).status_code == 404
    client.force_login(ana)
    inside = client.get(url)
    assert inside.status_code == 200 and "912.5" in inside.content.decode()


def test_queue_list_outside_and_inside(client, ana, ravi, fraud_item):
    row = f'data-href="/queue/items/{fraud_item.pk}/'
    client.force_login(ravi)
    assert row not in client.get("/queue/", {"status": "all"}).content.decode()
    client.force_login(ana)
    assert row in client.get("/queue/", {"status": "all"}).content.decode()


def test_decide_on_an_invisible_item_is_404(client, ana, ravi, fraud_item):
    client.force_login(ravi)
    response = client.post(
        f"/queue/items/{fraud_item.pk}/decide/", {"action": "accept", "generation": 0}
    )
    assert response.status_code == 404
    assert not Decision.objects.exists()


def test_delivery_pages_follow_the_rule(client, fraud_model, ana, ravi, fraud_item):
    make_decision(fraud_item, ana)
    delivery_services.deliveries_enqueue()
    view = Permission.objects.get(codename="view_delivery", content_type__app_label="delivery")
    for user in (ana, ravi):
        user.user_permissions.add(view)
    client.force_login(ravi)
    assert client.get(f"/delivery/items/{fraud_item.pk}/").status_code == 404
    row = f'href="/delivery/items/{fraud_item.pk}/"'
    assert row not in client.get("/delivery/").content.decode()
    client.force_login(ana)
    assert client.get(f"/delivery/items/{fraud_item.pk}/").status_code == 200
    assert row in client.get("/delivery/").content.decode()


# --- APIs --------------------------------------------------------------------------------------
def test_queue_api_outside_and_inside(ana, ravi, fraud_item):
    outside = _client(ravi)
    assert outside.get(f"/api/v1/queue/items/{fraud_item.pk}").status_code == 404
    assert outside.get("/api/v1/queue/items", {"status": "all"}).json()["results"] == []
    inside = _client(ana)
    detail = inside.get(f"/api/v1/queue/items/{fraud_item.pk}")
    assert detail.status_code == 200 and detail.json()["input"] == {
        "amount": 912.5,
        "country": "NL",
    }
    assert [r["id"] for r in inside.get("/api/v1/queue/items", {"status": "all"}).json()["results"]]


def test_prediction_api_outside_and_inside(ana, ravi, fraud_item):
    prediction = fraud_item.prediction
    key = {"model": "card-fraud", "external_id": "txn-secret"}
    outside = _client(ravi)
    assert outside.get(f"/api/v1/predictions/{prediction.pk}").status_code == 404
    assert outside.get("/api/v1/predictions", key).status_code == 404
    inside = _client(ana)
    assert inside.get(f"/api/v1/predictions/{prediction.pk}").json()["lineage"] is not None
    assert inside.get("/api/v1/predictions", key).json()["id"] == prediction.pk


def test_feed_and_export_follow_the_rule(ana, ravi, lead, fraud_item, radiology):
    decision = make_decision(fraud_item, ana)
    make_decision(make_item(radiology), ravi)
    for user in (ana, ravi):  # reviewers do not read the feed at all
        assert _client(user).get("/api/v1/decisions").status_code == 403
        assert _client(user).get("/api/v1/decisions/export").status_code == 403
    token = service_account_create(
        name="xray", model_slugs=["chest-xray"], actor=Actor.system("tests")
    ).token
    producer = APIClient()
    producer.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    feed = producer.get("/api/v1/decisions").json()["results"]
    assert [r["model"] for r in feed] == ["chest-xray"]
    export = producer.get("/api/v1/decisions/export")
    rows = [json.loads(line) for line in b"".join(export.streaming_content).splitlines()]
    assert [r["model"] for r in rows] == ["chest-xray"]
    lead_rows = _client(lead).get("/api/v1/decisions").json()["results"]
    assert decision.pk in {r["decision_id"] for r in lead_rows} and len(lead_rows) == 2


def test_export_page_uses_the_rule(client, ana, engineer, fraud_item, radiology):
    make_decision(fraud_item, ana)
    client.force_login(engineer)
    response = client.get("/delivery/export/", {"download": "1"})
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [r["external_id"] for r in rows] == ["txn-secret"]
    assert Prediction.objects.count() == 1

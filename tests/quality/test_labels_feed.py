"""The decisions feed's cursor: ordered by release time then id, so a decision held for a
blind second review and released later is not skipped; old id-only cursors still work; the
webhook outbox sends a released held decision."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.core.audit import Actor
from reviewapp.delivery import services
from reviewapp.delivery.api import decode_cursor, encode_cursor
from reviewapp.delivery.models import Delivery
from reviewapp.models import Decision
from reviewapp.services.accounts import service_account_create
from tests.delivery.factories import make_decision, make_item
from tests.factories import MLModelFactory, UserFactory, make_policy

pytestmark = pytest.mark.django_db

FEED = "/api/v1/decisions"


@pytest.fixture
def fraud(db):
    model = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"])
    make_policy(model)
    return model


@pytest.fixture
def ana(db):
    return UserFactory(username="ana", roles=["reviewer"])


@pytest.fixture
def client(fraud):
    token = service_account_create(
        name="producer", model_slugs=["card-fraud"], actor=Actor.system("tests")
    ).token
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def _read_all(client, after=None, limit=2) -> tuple[list[int], str | None]:
    seen = []
    while True:
        body = client.get(FEED, {"limit": limit, **({"after": after} if after else {})}).json()
        seen += [r["decision_id"] for r in body["results"]]
        after = body["next"]
        if not body["has_more"]:
            return seen, after


def _release(decision: Decision) -> None:
    """What a second review's agreement does: no longer held, delivered from now."""
    Decision.objects.filter(pk=decision.pk).update(
        held=False, deliver_after=timezone.now() - dt.timedelta(seconds=3)
    )


def test_cursor_round_trip_and_old_form():
    moment = dt.datetime(2026, 12, 2, 17, 0, 0, 123456, tzinfo=dt.UTC)
    assert decode_cursor(encode_cursor(41, moment)) == (moment, 41)
    assert decode_cursor(encode_cursor(41)) == (None, 41)
    for bad in ["", "!!", base64.urlsafe_b64encode(b"d2:x:1").decode(), "ZDI6MTo=", "ZDE6"]:
        with pytest.raises(ValueError):
            decode_cursor(bad)


def test_a_held_decision_released_later_comes_after_the_cursor(fraud, ana, client):
    past = timezone.now() - dt.timedelta(minutes=10)
    held = make_decision(make_item(fraud), ana, decided_at=past, grace=dt.timedelta(minutes=-9))
    Decision.objects.filter(pk=held.pk).update(held=True)
    newer = [make_decision(make_item(fraud), ana) for _ in range(3)]

    seen, cursor = _read_all(client)
    assert seen == [d.pk for d in newer]

    _release(held)
    later = make_decision(make_item(fraud), ana, grace=dt.timedelta(seconds=-2.5))
    more, _cursor = _read_all(client, after=cursor)
    # The held decision has a lower id than everything fed, yet it is not skipped.
    assert held.pk < newer[0].pk
    assert more == [held.pk, later.pk]
    # Nothing twice, nothing missed, read from the start.
    everything, _ = _read_all(client, limit=1)
    assert sorted(everything) == sorted([held.pk, *[d.pk for d in newer], later.pk])
    assert len(everything) == len(set(everything))


def test_an_old_id_only_cursor_stands_for_that_decisions_place(fraud, ana, client):
    first = [make_decision(make_item(fraud), ana) for _ in range(2)]
    rest = [make_decision(make_item(fraud), ana) for _ in range(3)]
    old = encode_cursor(first[-1].pk)
    body = client.get(FEED, {"after": old}).json()
    assert [r["decision_id"] for r in body["results"]] == [d.pk for d in rest]
    assert body["has_more"] is False
    # The answer's next cursor is the new form, and reading on from it returns nothing new.
    assert decode_cursor(body["next"])[0] is not None
    again = client.get(FEED, {"after": body["next"]}).json()
    assert again["results"] == [] and again["next"] == body["next"]


def test_a_cursor_that_is_not_ours_is_a_400_naming_after(fraud, client):
    for bad in ["nope", encode_cursor(999_999), base64.urlsafe_b64encode(b"d2:1:x").decode()]:
        response = client.get(FEED, {"after": bad})
        assert response.status_code == 400
        assert "after" in response.json()["errors"]


def test_the_webhook_outbox_sends_a_released_held_decision(fraud, ana):
    fraud.callback_url = "https://producer.example/hook"
    fraud.callback_secret = "s" * 40
    fraud.save()
    held = make_decision(make_item(fraud), ana)
    Decision.objects.filter(pk=held.pk).update(held=True)
    plain = make_decision(make_item(fraud), ana)
    services.deliveries_enqueue()
    assert set(Delivery.objects.values_list("decision_id", flat=True)) == {plain.pk}

    _release(held)
    services.deliveries_enqueue()
    assert set(Delivery.objects.values_list("decision_id", flat=True)) == {plain.pk, held.pk}

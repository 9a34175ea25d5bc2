"""prediction_ingest / prediction_batch_ingest: the one ingest pipeline the API and task share."""

from __future__ import annotations

import pytest
from django.test import override_settings

from reviewapp.core.audit import Actor
from reviewapp.core.models import AuditEvent
from reviewapp.models import Prediction, ServiceAccount
from reviewapp.services import ingest
from reviewapp.services.ingest import ItemResult, prediction_batch_ingest, prediction_ingest
from reviewapp.services.routing import predictions_route
from tests.factories import envelope_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(service_token) -> ServiceAccount:
    return ServiceAccount.objects.get(name="producer")


@pytest.fixture
def published(monkeypatch) -> list[list[int]]:
    sent: list[list[int]] = []
    monkeypatch.setattr(ingest, "enqueue_routing", lambda ids, **kw: sent.append(list(ids)) or True)
    return sent


def test_single_accepted_then_duplicate(
    fraud_model, account, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = prediction_ingest(envelope=envelope_for(fraud_model, "s-1"), account=account)
    assert first.status == "accepted" and first.http_status == 202
    assert published == [[first.id]]
    row = Prediction.objects.get(pk=first.id)
    assert row.submitted_by_id == account.pk
    assert not AuditEvent.objects.filter(verb="queue.prediction.ingested").exists()
    predictions_route(ids=[first.id])
    event = AuditEvent.objects.get(verb="queue.prediction.ingested")
    assert (event.actor_type, event.actor_label) == ("service", "producer")

    with django_capture_on_commit_callbacks(execute=True):
        again = prediction_ingest(envelope=envelope_for(fraud_model, "s-1"), account=account)
    assert (again.status, again.http_status, again.id) == ("duplicate", 200, first.id)
    assert published == [[first.id]]  # a duplicate enqueues nothing


def test_single_error_names_the_field_and_stores_nothing(fraud_model, account, published):
    result = prediction_ingest(
        envelope={**envelope_for(fraud_model, "bad"), "confidence": 3}, account=account
    )
    assert result.status == "error" and result.http_status == 400
    assert set(result.errors) == {"confidence"}
    assert Prediction.objects.count() == 0 and published == []


def test_enqueue_false_publishes_nothing(
    fraud_model, account, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = prediction_ingest(
            envelope=envelope_for(fraud_model, "quiet"), account=account, enqueue=False
        )
    assert result.status == "accepted" and callbacks == [] and published == []


def test_batch_returns_one_result_per_item_in_order(fraud_model, account, published):
    items = [
        envelope_for(fraud_model, "b-0"),
        "not an object",
        envelope_for(fraud_model, "b-0"),  # the same key twice in one batch
        envelope_for(fraud_model, "b-3"),
    ]
    results = prediction_batch_ingest(envelopes=items, account=account)
    assert all(isinstance(r, ItemResult) for r in results)
    assert [(r.index, r.status) for r in results] == [
        (0, "accepted"),
        (1, "error"),
        (2, "duplicate"),
        (3, "accepted"),
    ]
    assert results[2].id == results[0].id
    assert Prediction.objects.count() == 2


@override_settings(INGEST_MAX_BODY_BYTES=2_000)
def test_batch_refuses_items_over_the_single_limit_only_when_the_body_is(fraud_model, account):
    big = {**envelope_for(fraud_model, "big"), "input": {"note": "x" * 3_000}}
    small = envelope_for(fraud_model, "small")

    results = prediction_batch_ingest(envelopes=[big, small], account=account, body_size=10_000)
    assert [(r.status, r.http_status) for r in results] == [("error", 413), ("accepted", 202)]
    assert results[0].errors == {"body": ["This item is larger than the limit of 2000 bytes."]}

    # A body within the single limit cannot hold an oversized item: nothing is measured.
    fitting = {**envelope_for(fraud_model, "fits"), "input": {"note": "x" * 3_000}}
    (result,) = prediction_batch_ingest(envelopes=[fitting], account=account, body_size=1_000)
    assert result.status == "accepted"


def test_an_actor_is_required_without_an_account(fraud_model):
    with pytest.raises(ValueError):
        prediction_ingest(envelope=envelope_for(fraud_model, "x"), account=None)
    result = prediction_ingest(
        envelope=envelope_for(fraud_model, "x"), account=None, actor=Actor.system("tests")
    )
    assert result.status == "accepted"

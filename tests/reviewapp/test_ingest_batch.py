"""POST /api/v1/predictions/batch: each item stands alone, one transaction, request order."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from reviewapp.core.audit import Actor
from reviewapp.core.models import AuditEvent
from reviewapp.models import Prediction
from reviewapp.services.accounts import service_account_create
from reviewapp.services.routing import predictions_route
from tests.factories import DEFAULT_RULES, MLModelFactory, envelope_for, make_policy

URL = "/api/v1/predictions/batch"


def env(ml_model, external_id: str = "txn-1", /, **patch) -> dict:
    return {**envelope_for(ml_model, external_id), **patch}


def post_batch(client: APIClient, body):
    if not isinstance(body, str | bytes):
        body = json.dumps(body)
    return client.post(URL, body, content_type="application/json")


def counts() -> tuple[int, int]:
    return Prediction.objects.count(), AuditEvent.objects.count()


def test_mixed_items_are_answered_in_request_order(api, fraud_model):
    items = [
        env(fraud_model, "b-0"),
        env(fraud_model, "b-1", confidence=7),
        env(fraud_model, "b-2"),
        "not an object",
        env(fraud_model, "b-4", model="nope"),
        env(fraud_model, "b-5", output={"label": "maybe"}, input=[]),
    ]
    response = post_batch(api, {"predictions": items})

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(6))
    assert [r["status"] for r in results] == [
        "accepted",
        "error",
        "accepted",
        "error",
        "error",
        "error",
    ]
    assert set(results[1]["errors"]) == {"confidence"}
    assert set(results[4]["errors"]) == {"model"}
    assert set(results[5]["errors"]) == {"output.label", "input"}
    assert results[0]["errors"] is None and results[1]["id"] is None
    stored = dict(Prediction.objects.values_list("external_id", "id"))
    assert stored == {"b-0": results[0]["id"], "b-2": results[2]["id"]}


def test_valid_items_are_written_in_one_transaction_and_audited_by_their_routing_chunk(
    api, fraud_model, django_assert_max_num_queries
):
    items = [env(fraud_model, f"t-{i}") for i in range(50)]
    events = AuditEvent.objects.count()
    # Token, models, insert, read back, audit: not one query per item.
    with django_assert_max_num_queries(12):
        response = post_batch(api, {"predictions": items})
    assert [r["status"] for r in response.json()["results"]] == ["accepted"] * 50
    assert Prediction.objects.count() == 50
    # No audit row per request: the routing chunk writes one "ingested" event for the 50.
    assert AuditEvent.objects.count() == events
    predictions_route(ids=list(Prediction.objects.values_list("id", flat=True)))
    event = AuditEvent.objects.filter(verb="queue.prediction.ingested").latest("id")
    assert event.data["count"] == 50
    assert event.request_id == response["X-Request-ID"]


def test_a_key_repeated_in_one_batch_is_accepted_once_then_duplicate_with_the_same_id(
    api, fraud_model
):
    items = [
        env(fraud_model, "same"),
        env(fraud_model, "other"),
        env(fraud_model, "same", confidence=0.9),
        env(fraud_model, "same"),
    ]
    results = post_batch(api, {"predictions": items}).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "accepted", "duplicate", "duplicate"]
    assert results[0]["id"] == results[2]["id"] == results[3]["id"]
    assert Prediction.objects.get(external_id="same").confidence == 0.55


def test_an_invalid_first_copy_does_not_hide_a_valid_second(api, fraud_model):
    items = [env(fraud_model, "k", confidence=3), env(fraud_model, "k")]
    results = post_batch(api, {"predictions": items}).json()["results"]
    assert [r["status"] for r in results] == ["error", "accepted"]


def test_keys_stored_earlier_are_duplicates(api, fraud_model):
    first = api.post(
        "/api/v1/predictions", json.dumps(env(fraud_model, "old")), content_type="application/json"
    ).json()
    before = counts()
    results = post_batch(api, {"predictions": [env(fraud_model, "old")]}).json()["results"]
    assert results == [
        {
            "index": 0,
            "status": "duplicate",
            "id": first["id"],
            "model_mode": "normal",
            "errors": None,
        }
    ]
    assert counts() == before


def test_items_for_a_model_the_token_may_not_use_are_errors(fraud_model):
    tickets = MLModelFactory(slug="support-triage", labels=["billing", "other"])
    make_policy(tickets, {**DEFAULT_RULES, "min_confidence_by_label": {}})
    token = service_account_create(
        name="tickets-only", model_slugs=["support-triage"], actor=Actor.system("tests")
    ).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    items = [env(fraud_model, "f"), env(tickets, "t", output={"label": "billing"})]
    results = post_batch(client, {"predictions": items}).json()["results"]
    assert [r["status"] for r in results] == ["error", "accepted"]
    assert "card-fraud" in results[0]["errors"]["model"][0]


def test_an_empty_batch_is_fine(api, fraud_model):
    response = post_batch(api, {"predictions": []})
    assert response.status_code == 200
    assert response.json() == {"results": []}


def test_more_than_1000_items_is_400_for_the_whole_request(api, fraud_model):
    items = [env(fraud_model, f"k-{i}") for i in range(1001)]
    response = post_batch(api, {"predictions": items})
    assert response.status_code == 400
    assert "1000" in response.json()["errors"]["predictions"][0]
    assert not Prediction.objects.exists()


def test_exactly_1000_items_are_accepted(api, fraud_model):
    items = [env(fraud_model, f"k-{i}") for i in range(1000)]
    response = post_batch(api, {"predictions": items})
    assert response.status_code == 200
    assert Prediction.objects.count() == 1000


@override_settings(INGEST_MAX_BATCH_ITEMS=3)
def test_the_item_limit_is_a_setting(api, fraud_model):
    items = [env(fraud_model, f"k-{i}") for i in range(4)]
    assert post_batch(api, {"predictions": items}).status_code == 400
    assert post_batch(api, {"predictions": items[:3]}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        [],
        [{"model": "card-fraud"}],
        {},
        {"prediction": []},
        {"predictions": {}},
        {"predictions": "x"},
        {"predictions": None},
        {"predictions": [], "extra": 1},
        "predictions",
        None,
        42,
    ],
    ids=repr,
)
def test_a_body_that_is_not_predictions_list_is_400(api, fraud_model, body):
    before = counts()
    response = post_batch(api, json.dumps(body))
    assert response.status_code == 400, response.content
    assert "predictions" in response.json()["errors"]
    assert counts() == before


@pytest.mark.parametrize("raw", [b"", b"{", b'{"predictions": [}', b"\xff"], ids=repr)
def test_malformed_batch_json_is_400(api, fraud_model, raw):
    response = post_batch(api, raw)
    assert response.status_code == 400
    assert "body" in response.json()["errors"]


def test_nan_in_one_item_names_that_item_field_only(api, fraud_model):
    items = [env(fraud_model, "ok"), env(fraud_model, "bad", confidence="__NAN__")]
    raw = json.dumps({"predictions": items}).replace('"__NAN__"', "NaN")
    results = post_batch(api, raw).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "error"]
    assert list(results[1]["errors"]) == ["confidence"]


def test_batch_needs_a_service_token(client, lead, fraud_model):
    assert post_batch(APIClient(), {"predictions": []}).status_code == 401
    client.force_login(lead)
    response = client.post(URL, json.dumps({"predictions": []}), "application/json")
    assert response.status_code == 403


# --- size limits ---------------------------------------------------------------------------
@override_settings(INGEST_MAX_BATCH_BODY_BYTES=20_000)
def test_batch_body_over_its_limit_is_413(api, fraud_model):
    items = [env(fraud_model, f"k-{i}", input={"pad": "x" * 1000}) for i in range(25)]
    response = post_batch(api, {"predictions": items})
    assert response.status_code == 413
    assert "20000" in response.json()["errors"]["body"][0]
    assert not Prediction.objects.exists()


@override_settings(INGEST_MAX_BATCH_BODY_BYTES=20_000)
def test_batch_content_length_over_its_limit_is_413(api, fraud_model):
    response = api.generic(
        "POST",
        URL,
        json.dumps({"predictions": []}),
        content_type="application/json",
        CONTENT_LENGTH="20001",
    )
    assert response.status_code == 413


def test_the_default_batch_limit_is_16_mib_and_items_1_mib():
    from django.conf import settings

    assert settings.INGEST_MAX_BATCH_BODY_BYTES == 16 * 1024 * 1024
    assert settings.INGEST_MAX_BODY_BYTES == 1024 * 1024
    assert settings.INGEST_MAX_BATCH_ITEMS == 1000


@override_settings(INGEST_MAX_BODY_BYTES=2_000, INGEST_MAX_BATCH_BODY_BYTES=50_000)
def test_a_batch_item_over_the_single_limit_is_an_item_error(api, fraud_model):
    # The batch body itself is above the single-prediction limit, which must not matter.
    items = [
        env(fraud_model, "small-1", input={"pad": "x" * 1500}),
        env(fraud_model, "huge", input={"pad": "x" * 3000}),
        env(fraud_model, "small-2"),
    ]
    response = post_batch(api, {"predictions": items})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "error", "accepted"]
    assert "2000" in results[1]["errors"]["body"][0]
    assert set(Prediction.objects.values_list("external_id", flat=True)) == {"small-1", "small-2"}


# --- racing batches -----------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_racing_batches_with_shared_keys_in_opposite_orders_store_each_key_once(monkeypatch):
    """Two producers send overlapping 1,000-item batches at the same moment, one in reverse
    order. Each key is stored once, accepted by exactly one batch, and neither deadlocks."""
    import threading

    from django.db import connection

    monkeypatch.setattr("reviewapp.services.ingest.enqueue_routing", lambda ids, **kw: True)
    model = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"], criticality="critical")
    make_policy(model)
    token = service_account_create(name="racer", model_slugs=None, actor=Actor.system("t")).token

    def race(keys_a: list[str], keys_b: list[str]) -> list[list[dict]]:
        bodies = [
            json.dumps({"predictions": [env(model, k) for k in keys]}) for keys in (keys_a, keys_b)
        ]
        barrier = threading.Barrier(2)
        answers: list[list[dict]] = [[], []]
        failures: list[BaseException] = []

        def send(n: int) -> None:
            try:
                client = APIClient()
                client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
                barrier.wait(timeout=10)
                response = client.post(URL, bodies[n], content_type="application/json")
                assert response.status_code == 200, response.content[:300]
                answers[n] = response.json()["results"]
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failures.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        return answers

    for round_ in range(5):
        shared = [f"r{round_}-{i:04d}" for i in range(900)]
        keys_a = shared + [f"r{round_}-a{i}" for i in range(100)]
        keys_b = shared[::-1] + [f"r{round_}-b{i}" for i in range(100)]
        answers = race(keys_a, keys_b)
        ids = dict(
            Prediction.objects.filter(external_id__startswith=f"r{round_}-").values_list(
                "external_id", "id"
            )
        )
        assert len(ids) == 1100
        outcome: dict[str, list[str]] = {}
        for keys, results in zip((keys_a, keys_b), answers, strict=True):
            for key, result in zip(keys, results, strict=True):
                assert result["id"] == ids[key]
                outcome.setdefault(key, []).append(result["status"])
        for key in shared:
            assert sorted(outcome[key]) == ["accepted", "duplicate"], (key, outcome[key])
        assert all(outcome[k] == ["accepted"] for k in keys_a[900:] + keys_b[900:])


def test_rows_are_inserted_in_key_order_whatever_the_request_order(api, fraud_model):
    """The invariant that keeps racing batches free of deadlocks: every transaction takes the
    unique-key locks in the same (model, external_id) order, so ids follow the keys."""
    keys = ["k-3", "k-1", "k-4", "k-2"]
    results = post_batch(api, {"predictions": [env(fraud_model, k) for k in keys]}).json()
    id_of = {key: r["id"] for key, r in zip(keys, results["results"], strict=True)}
    assert [id_of[k] for k in sorted(keys)] == sorted(id_of.values())

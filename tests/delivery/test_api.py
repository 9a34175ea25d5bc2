"""GET /api/v1/decisions (feed) and GET /api/v1/decisions/export (labels)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.core.audit import Actor
from reviewapp.models import Decision
from reviewapp.services.accounts import service_account_create
from tests.factories import MLModelFactory, UserFactory, make_policy

from .factories import make_decision, make_item

pytestmark = pytest.mark.django_db

FEED = "/api/v1/decisions"
EXPORT = "/api/v1/decisions/export"


@pytest.fixture
def two_models(ana):
    fraud = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"])
    chest = MLModelFactory(slug="chest-xray", labels=["fraud", "legit"])
    make_policy(fraud)
    make_policy(chest)
    return fraud, chest


def _token_client(*slugs: str) -> APIClient:
    token = service_account_create(
        name=f"producer-{'-'.join(slugs) or 'all'}",
        model_slugs=list(slugs) or None,
        actor=Actor.system("tests"),
    ).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _decide_many(model, reviewer, n: int, **kw) -> list[Decision]:
    return [make_decision(make_item(model), reviewer, **kw) for _ in range(n)]


def test_feed_pages_through_decisions_with_a_cursor(two_models, ana):
    fraud, _chest = two_models
    decisions = _decide_many(fraud, ana, 5)
    make_decision(make_item(fraud), ana, undone=True)
    make_decision(make_item(fraud), ana, grace=dt.timedelta(minutes=5))
    make_decision(make_item(fraud), ana, action=Decision.Action.ESCALATE)
    client = _token_client("card-fraud")

    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        body = client.get(FEED, params).json()
        pages += 1
        seen += [row["decision_id"] for row in body["results"]]
        after = body["next"]
        if not body["has_more"]:
            break
    assert seen == [d.pk for d in decisions]
    assert pages == 3
    # Polling again with the last cursor answers nothing new, and the same cursor back.
    again = client.get(FEED, {"after": after}).json()
    assert again == {"results": [], "next": after, "has_more": False}
    # A new decision shows up after that cursor.
    newer = make_decision(make_item(fraud), ana)
    assert [r["decision_id"] for r in client.get(FEED, {"after": after}).json()["results"]] == [
        newer.pk
    ]
    first = client.get(FEED, {"limit": 1}).json()["results"][0]
    assert first["outcome"] == "accepted" and first["reviewer"] == "ana"
    assert first["model"] == "card-fraud" and first["policy_hash"]


def test_feed_token_sees_only_its_models(two_models, ana):
    fraud, chest = two_models
    _decide_many(fraud, ana, 2)
    chest_decisions = _decide_many(chest, ana, 3)
    client = _token_client("chest-xray")
    body = client.get(FEED).json()
    assert [r["decision_id"] for r in body["results"]] == [d.pk for d in chest_decisions]
    refused = client.get(FEED, {"model": "card-fraud"})
    assert refused.status_code == 403 and "model" in refused.json()["errors"]
    assert len(_token_client().get(FEED).json()["results"]) == 5


def test_feed_bad_parameters_name_the_field(two_models):
    client = _token_client()
    for params, field in [
        ({"after": "not-a-cursor"}, "after"),
        ({"after": "ZDE6YWJj"}, "after"),  # "d1:abc"
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"model": "nope"}, "model"),
    ]:
        response = client.get(FEED, params)
        assert response.status_code == 400, params
        assert field in response.json()["errors"], params


def test_feed_access_by_role(two_models, reviewer, engineer):
    client = APIClient()
    assert client.get(FEED).status_code in (401, 403)
    client.force_login(reviewer)
    assert client.get(FEED).status_code == 403
    client.force_login(engineer)
    assert client.get(FEED).status_code == 200


def _rows_jsonl(response) -> list[dict]:
    assert response.streaming
    content = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in content.splitlines()]


def test_export_jsonl_has_one_label_row_per_standing_decision(two_models, ana):
    fraud, chest = two_models
    accepted = make_decision(make_item(fraud, external_id="a-1"), ana)
    overridden = make_decision(
        make_item(fraud, external_id="a-2"),
        ana,
        action=Decision.Action.OVERRIDE,
        final_label="legit",
        reason="known merchant",
    )
    make_decision(make_item(fraud), ana, undone=True)
    make_decision(make_item(chest), ana)
    response = _token_client().get(EXPORT, {"format": "jsonl", "model": "card-fraud"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert "attachment" in response["Content-Disposition"]
    rows = _rows_jsonl(response)
    assert [r["decision_id"] for r in rows] == [accepted.pk, overridden.pk]
    row = rows[1]
    assert row["input"] == {"amount": 912.5, "country": "NL"}
    assert row["model_output"]["label"] == "fraud" and row["model_label"] == "fraud"
    assert row["final_label"] == "legit" and row["outcome"] == "overridden"
    assert row["reviewer"] == "ana" and row["reason"] == "known merchant"
    assert row["external_id"] == "a-2"
    assert row["policy_version"] == overridden.prediction.policy_version.version
    assert row["decided_at"].endswith("Z")

    only_overrides = _rows_jsonl(_token_client("card-fraud").get(EXPORT, {"outcome": "overridden"}))
    assert [r["decision_id"] for r in only_overrides] == [overridden.pk]


def test_export_csv_round_trips(two_models, ana):
    fraud, _ = two_models
    decision = make_decision(
        make_item(fraud),
        ana,
        action=Decision.Action.OVERRIDE,
        final_label="legit",
        reason='said "no", twice',
    )
    response = _token_client().get(EXPORT, {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    row = rows[0]
    assert int(row["decision_id"]) == decision.pk
    assert json.loads(row["input"]) == {"amount": 912.5, "country": "NL"}
    assert json.loads(row["failure_mode_tags"]) == ["currency-drift"]
    assert row["reason"] == 'said "no", twice'
    assert row["outcome"] == "overridden" and row["final_label"] == "legit"


def test_export_time_range(two_models, ana):
    fraud, _ = two_models
    now = timezone.now()
    old = make_decision(make_item(fraud), ana, decided_at=now - dt.timedelta(days=3))
    mid = make_decision(make_item(fraud), ana, decided_at=now - dt.timedelta(days=1, hours=1))
    new = make_decision(make_item(fraud), ana, decided_at=now - dt.timedelta(minutes=5))
    client = _token_client()

    def ids(**params) -> list[int]:
        return [r["decision_id"] for r in _rows_jsonl(client.get(EXPORT, params))]

    since = (now - dt.timedelta(days=2)).isoformat()
    assert ids(since=since) == [mid.pk, new.pk]
    assert ids(since=since, until=(now - dt.timedelta(hours=2)).isoformat()) == [mid.pk]
    # A bare date for `until` includes that whole day.
    assert ids(until=(now - dt.timedelta(days=3)).date().isoformat()) == [old.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-45"}, "until"),
        ({"since": "2026-11-05", "until": "2026-11-01"}, "until"),
        ({"format": "xlsx"}, "format"),
        ({"outcome": "escalated"}, "outcome"),
        ({"model": "no-such-model"}, "model"),
    ],
)
def test_export_bad_filters_are_400_naming_the_field(two_models, params, field):
    response = _token_client().get(EXPORT, params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_export_token_cannot_export_other_models(two_models, ana):
    fraud, chest = two_models
    make_decision(make_item(fraud), ana)
    mine = make_decision(make_item(chest), ana)
    client = _token_client("chest-xray")
    assert [r["decision_id"] for r in _rows_jsonl(client.get(EXPORT))] == [mine.pk]
    assert client.get(EXPORT, {"model": "card-fraud"}).status_code == 400


def test_export_and_feed_are_in_the_openapi_schema(engineer):
    client = APIClient()
    client.force_login(engineer)
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "get" in paths["/api/v1/decisions"]
    export = paths["/api/v1/decisions/export"]["get"]
    assert {p["name"] for p in export["parameters"]} >= {
        "format",
        "model",
        "since",
        "until",
        "outcome",
    }
    assert "text/csv" in export["responses"]["200"]["content"]


def test_export_memory_stays_flat_with_many_rows(two_models):
    """The export is a generator over a chunked iterator: rows are produced as they are read."""
    fraud, _ = two_models
    reviewer = UserFactory(username="ravi", roles=["reviewer"])
    for _ in range(30):
        make_decision(make_item(fraud), reviewer)
    response = _token_client().get(EXPORT)
    stream = iter(response.streaming_content)
    first = next(stream)
    assert json.loads(first)["reviewer"] == "ravi"
    assert sum(1 for _ in stream) == 29

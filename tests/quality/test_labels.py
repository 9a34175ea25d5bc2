"""Labels you can trust: the columns the export, the feed and the webhook carry per label
(routing reason and selection, double review, adjudication, agreement, the reviewer's gold
accuracy at the time), computed once per batch; gold and qualification never exported or fed."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.core.audit import Actor
from reviewapp.delivery import selectors
from reviewapp.delivery.export import CSV_COLUMNS
from reviewapp.models import Decision, Purpose
from reviewapp.quality.models import GoldItem, GoldServing, SecondReview
from reviewapp.quality.selectors import labels
from reviewapp.services.accounts import service_account_create
from tests.delivery.factories import make_decision, make_item
from tests.factories import MLModelFactory, UserFactory, make_policy

pytestmark = pytest.mark.django_db

FEED = "/api/v1/decisions"
EXPORT = "/api/v1/decisions/export"
NEW_FIELDS = {
    "routing_reason",
    "selection",
    "double_reviewed",
    "adjudicated",
    "agreement",
    "reviewer_gold_accuracy",
    "reviewer_gold_n",
}


@pytest.fixture
def fraud(db):
    model = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"])
    make_policy(model)
    return model


@pytest.fixture
def ana(db):
    return UserFactory(username="ana", roles=["reviewer"])


@pytest.fixture
def lee(db):
    return UserFactory(username="lee", roles=["lead"])


def _client(*slugs: str) -> APIClient:
    token = service_account_create(
        name="producer", model_slugs=list(slugs) or None, actor=Actor.system("tests")
    ).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _gold(model, lead, *, label="fraud") -> GoldItem:
    source = make_item(model)
    return GoldItem.objects.create(
        model=model,
        prediction=source.prediction,
        source_item=source,
        label=label,
        model_label=source.prediction.label,
        marked_by=lead,
    )


def _scored(model, reviewer, lead, *, result, scored_at, qualification=False) -> GoldServing:
    gold = _gold(model, lead)
    purpose = Purpose.QUALIFICATION if qualification else Purpose.GOLD
    item = make_item(model, purpose=purpose, for_reviewer=reviewer)
    return GoldServing.objects.create(
        gold=gold,
        item=item,
        reviewer=reviewer,
        model=model,
        qualification=qualification,
        result=result,
        scored_at=scored_at,
    )


def _second_review(first: Decision, reviewer, *, status, second=True) -> SecondReview:
    item = make_item(first.model, purpose=Purpose.SECOND_REVIEW)
    # The second item reviews the first decision's prediction.
    item.prediction = first.prediction
    item.save(update_fields=["prediction"])
    second_decision = make_decision(item, reviewer) if second else None
    return SecondReview.objects.create(
        model=first.model,
        prediction=first.prediction,
        first_decision=first,
        second_item=item,
        second_decision=second_decision,
        why=SecondReview.Why.SAMPLED,
        status=status,
    )


# --- selection -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("purpose", "codes", "expected"),
    [
        (Purpose.ROUTED, ["low_confidence"], "routed"),
        (Purpose.ROUTED, ["qa_sample"], "qa_sample"),
        (Purpose.ROUTED, ["qa_sample", "drift_signalled"], "routed"),
        (Purpose.ROUTED, [], "routed"),
        (Purpose.SHIFT_SAMPLE, [], "shift_sample"),
        (Purpose.MODE_SAMPLE, ["model_halted"], "mode_sample"),
        (Purpose.INCIDENT_RECHECK, ["low_confidence"], "incident_recheck"),
    ],
)
def test_selection_names_how_the_prediction_came_to_be_reviewed(purpose, codes, expected):
    assert selectors.selection(purpose=purpose, reason_codes=codes) == expected


# --- the annotations -------------------------------------------------------------------------
def test_a_single_review_without_gold_carries_the_defaults(fraud, ana):
    decision = make_decision(make_item(fraud), ana)
    row = selectors.label_annotations([decision])[decision.pk]
    assert row == {
        "routing_reason": ["low_confidence"],
        "selection": "routed",
        "double_reviewed": False,
        "adjudicated": False,
        "agreement": None,
        "reviewer_gold_accuracy": None,
        "reviewer_gold_n": 0,
    }


def test_gold_accuracy_counts_only_answers_scored_before_the_decision(fraud, ana, lee):
    now = timezone.now()
    R = GoldServing.Result
    _scored(fraud, ana, lee, result=R.CORRECT, scored_at=now - dt.timedelta(days=3))
    _scored(fraud, ana, lee, result=R.CORRECT, scored_at=now - dt.timedelta(days=2))
    _scored(fraud, ana, lee, result=R.WRONG, scored_at=now - dt.timedelta(days=1, hours=12))
    _scored(fraud, ana, lee, result=R.ESCALATED, scored_at=now - dt.timedelta(days=1, hours=6))
    _scored(
        fraud, ana, lee, result=R.WRONG, scored_at=now - dt.timedelta(hours=1), qualification=True
    )
    # Another model's answers do not count on this one.
    other = MLModelFactory(slug="chest-xray", labels=["fraud", "legit"])
    make_policy(other)
    _scored(other, ana, lee, result=R.WRONG, scored_at=now - dt.timedelta(days=5))

    early = make_decision(make_item(fraud), ana, decided_at=now - dt.timedelta(days=4))
    after_two = make_decision(
        make_item(fraud), ana, decided_at=now - dt.timedelta(days=1, hours=20)
    )
    after_three = make_decision(make_item(fraud), ana, decided_at=now - dt.timedelta(days=1))
    latest = make_decision(make_item(fraud), ana, decided_at=now - dt.timedelta(minutes=5))

    found = selectors.label_annotations([early, after_two, after_three, latest])
    assert found[early.pk]["reviewer_gold_accuracy"] is None
    assert found[early.pk]["reviewer_gold_n"] == 0
    assert (
        found[after_two.pk]["reviewer_gold_accuracy"],
        found[after_two.pk]["reviewer_gold_n"],
    ) == (1.0, 2)
    # 2 correct of 3 scored; the escalated answer is not scored either way.
    assert found[after_three.pk]["reviewer_gold_accuracy"] == pytest.approx(0.6667, abs=1e-4)
    assert found[after_three.pk]["reviewer_gold_n"] == 3
    # The qualification answer counts too: 2 of 4.
    assert (found[latest.pk]["reviewer_gold_accuracy"], found[latest.pk]["reviewer_gold_n"]) == (
        0.5,
        4,
    )


def test_gold_accuracy_is_the_deciding_reviewers_own(fraud, ana, lee):
    ravi = UserFactory(username="ravi", roles=["reviewer"])
    now = timezone.now()
    _scored(
        fraud, ravi, lee, result=GoldServing.Result.CORRECT, scored_at=now - dt.timedelta(days=1)
    )
    mine = make_decision(make_item(fraud), ana)
    his = make_decision(make_item(fraud), ravi)
    found = selectors.label_annotations([mine, his])
    assert found[mine.pk]["reviewer_gold_n"] == 0
    assert found[his.pk]["reviewer_gold_accuracy"] == 1.0


@pytest.mark.parametrize(
    ("status", "second", "expected"),
    [
        (SecondReview.Status.AGREED, True, (True, False, "agreed")),
        (SecondReview.Status.ADJUDICATING, True, (True, False, "disagreed")),
        (SecondReview.Status.ADJUDICATED, True, (True, True, "disagreed")),
        (SecondReview.Status.PENDING, False, (False, False, None)),
        (SecondReview.Status.CANCELLED, False, (False, False, None)),
    ],
)
def test_second_review_flags(fraud, ana, lee, status, second, expected):
    first = make_decision(make_item(fraud), ana)
    _second_review(first, lee, status=status, second=second)
    row = selectors.label_annotations([first])[first.pk]
    assert (row["double_reviewed"], row["adjudicated"], row["agreement"]) == expected


def test_one_query_per_figure_per_batch(fraud, ana, lee, django_assert_num_queries):
    now = timezone.now()
    decisions = []
    for i in range(6):
        _scored(
            fraud,
            ana,
            lee,
            result=GoldServing.Result.CORRECT,
            scored_at=now - dt.timedelta(days=9 - i),
        )
        first = make_decision(make_item(fraud), ana, decided_at=now - dt.timedelta(days=2))
        if i % 2:
            _second_review(first, lee, status=SecondReview.Status.AGREED)
        decisions.append(first)
    batch = list(
        Decision.objects.filter(pk__in=[d.pk for d in decisions]).select_related(
            "item", "prediction"
        )
    )
    # The second reviews of the batch's predictions, and the reviewers' scored gold: two reads.
    with django_assert_num_queries(2):
        found = labels.label_annotations(decisions=batch)
    assert sum(1 for d in batch if found[d.pk].get("double_reviewed")) == 3
    assert all(found[d.pk]["reviewer_gold_n"] == 6 for d in batch)


# --- export, feed, webhook -------------------------------------------------------------------
def _labelled_world(fraud, ana, lee):
    """A routed decision with a QA-sample reason and an agreed second review, a plain one, and
    a gold and a qualification decision (never labels)."""
    now = timezone.now()
    _scored(
        fraud, ana, lee, result=GoldServing.Result.CORRECT, scored_at=now - dt.timedelta(days=1)
    )
    qa_item = make_item(fraud)
    qa_item.prediction.reason_codes = ["qa_sample"]
    qa_item.prediction.save(update_fields=["reason_codes"])
    doubled = make_decision(qa_item, ana)
    _second_review(doubled, lee, status=SecondReview.Status.AGREED)
    plain = make_decision(make_item(fraud), ana)
    gold = make_decision(make_item(fraud, purpose=Purpose.GOLD, for_reviewer=ana), ana)
    qual = make_decision(make_item(fraud, purpose=Purpose.QUALIFICATION, for_reviewer=ana), ana)
    return doubled, plain, gold, qual


def test_export_jsonl_and_csv_carry_the_columns_and_never_gold(fraud, ana, lee):
    doubled, plain, gold, qual = _labelled_world(fraud, ana, lee)
    client = _client("card-fraud")

    response = client.get(EXPORT, {"format": "jsonl"})
    assert response.status_code == 200
    rows = {
        r["decision_id"]: r
        for r in (json.loads(line) for line in b"".join(response.streaming_content).splitlines())
    }
    assert set(rows) == {doubled.pk, plain.pk}
    assert gold.pk not in rows and qual.pk not in rows
    assert set(rows[doubled.pk]) >= NEW_FIELDS
    assert rows[doubled.pk]["selection"] == "qa_sample"
    assert rows[doubled.pk]["routing_reason"] == ["qa_sample"]
    assert rows[doubled.pk]["double_reviewed"] is True
    assert rows[doubled.pk]["agreement"] == "agreed"
    assert rows[doubled.pk]["reviewer_gold_accuracy"] == 1.0
    assert rows[plain.pk]["agreement"] is None and rows[plain.pk]["selection"] == "routed"

    response = client.get(EXPORT, {"format": "csv"})
    text = b"".join(response.streaming_content).decode()
    table = list(csv.DictReader(io.StringIO(text)))
    # The new columns come after the old ones, so positional readers keep working.
    assert CSV_COLUMNS.index("purpose") < CSV_COLUMNS.index("routing_reason")
    assert list(table[0]) == CSV_COLUMNS
    by_id = {int(r["decision_id"]): r for r in table}
    assert set(by_id) == {doubled.pk, plain.pk}
    assert json.loads(by_id[doubled.pk]["routing_reason"]) == ["qa_sample"]
    assert by_id[doubled.pk]["double_reviewed"] == "true"
    assert by_id[plain.pk]["double_reviewed"] == "false"
    assert by_id[plain.pk]["agreement"] == ""
    assert by_id[doubled.pk]["reviewer_gold_n"] == "1"


def test_feed_carries_the_columns_and_never_gold(fraud, ana, lee):
    doubled, plain, gold, qual = _labelled_world(fraud, ana, lee)
    body = _client("card-fraud").get(FEED).json()
    rows = {r["decision_id"]: r for r in body["results"]}
    assert set(rows) == {doubled.pk, plain.pk}
    assert set(rows[plain.pk]) >= NEW_FIELDS
    assert rows[doubled.pk]["double_reviewed"] is True
    assert rows[plain.pk]["reviewer_gold_n"] == 1


def test_feed_page_reads_annotations_once(fraud, ana, lee, django_assert_max_num_queries):
    for _ in range(3):
        make_decision(make_item(fraud), ana)
    client = _client("card-fraud")
    with django_assert_max_num_queries(12) as small:
        client.get(FEED)
    for _ in range(20):
        make_decision(make_item(fraud), ana)
    # Twenty more decisions on the page cost no more queries (no read per decision).
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = client.get(FEED).json()
    assert len(body["results"]) == 23


def test_webhook_payload_carries_the_columns(fraud, ana, lee):
    from reviewapp.delivery import services
    from reviewapp.delivery.models import Delivery

    fraud.callback_url = "https://producer.example/hook"
    fraud.callback_secret = "s" * 40
    fraud.save()
    doubled, plain, gold, qual = _labelled_world(fraud, ana, lee)
    services.deliveries_enqueue()
    payloads = {d.decision_id: d.payload for d in Delivery.objects.all()}
    assert set(payloads) == {doubled.pk, plain.pk}
    data = payloads[doubled.pk]["data"]
    assert set(data) >= NEW_FIELDS
    assert data["selection"] == "qa_sample" and data["agreement"] == "agreed"

"""Exact replay of routing decisions (reviewapp/governance/replay.py) and replay_routing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict
from reviewapp.governance.replay import (
    RECONSTRUCTED,
    STORED,
    routing_replay,
    routing_replay_range,
)
from reviewapp.models import MLModel, Prediction, PredictionPayload, ReviewItem
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route
from tests.factories import DEFAULT_RULES, MLModelFactory, envelope_for, make_policy

pytestmark = pytest.mark.django_db

V2 = {
    **DEFAULT_RULES,
    "schema": 2,
    "max_auto_error_rate": 0.02,
    "segments": [
        {
            "name": "high-value",
            "conditions": [{"field": "input.amount", "op": ">=", "value": 10000}],
            "min_confidence": 0.95,
            "tier": "critical",
        },
        {
            "name": "nl-legit",
            "conditions": [
                {"field": "input.country", "op": "==", "value": "NL"},
                {"field": "output.label", "op": "==", "value": "legit"},
            ],
            "qa_sample_rate": 0.5,
        },
    ],
}


def route_traffic(model: MLModel, n: int = 60, prefix: str = "r") -> list[int]:
    envelopes = [
        {
            **envelope_for(model, f"{prefix}-{i}"),
            "confidence": 0.5 + (i % 25) / 50,
            "input": {"amount": (i % 7) * 3000, "country": ["NL", "FR"][i % 2], "raw": "x" * 50},
            "output": {"label": ["fraud", "legit"][i % 3 % 2]},
            "signals": {"ood_score": (i % 10) / 10, "drift_features": ["amount"] * (i % 9 == 0)},
        }
        for i in range(n)
    ]
    results = prediction_batch_ingest(
        envelopes=envelopes, account=None, actor=Actor.system("tests"), enqueue=False
    )
    ids = [r.id for r in results]
    assert predictions_route(ids=ids) == n
    return ids


@pytest.fixture
def segmented_model(db):
    model = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"], criticality="high")
    make_policy(model, V2)
    return model


def test_replay_of_the_active_version_equals_what_routing_recorded(segmented_model):
    ids = route_traffic(segmented_model)
    predictions = Prediction.objects.filter(pk__in=ids)
    segments = {p.reason_details.get("segment") for p in predictions}
    assert segments == {None, "high-value", "nl-legit"}  # the traffic exercises every branch
    assert {p.routed for p in predictions} == {True, False}
    for prediction in predictions:
        result = routing_replay(prediction)
        assert result.facts == STORED
        assert result.matches, result.as_dict()
        assert result.recorded.reasons == prediction.reason_codes
        assert result.policy_version == 1


def test_stored_facts_keep_only_what_the_rules_read(segmented_model):
    [pk] = route_traffic(segmented_model, 1, prefix="one")
    facts = Prediction.objects.get(pk=pk).routing_facts
    assert facts["fields"] == {"input.amount": 0, "input.country": "NL", "output.label": "fraud"}
    assert facts["criticality"] == "high"
    assert "raw" not in str(facts)


def test_replay_reads_neither_the_live_model_nor_the_raw_input(segmented_model):
    ids = route_traffic(segmented_model, 20)
    # After routing: the model becomes low-criticality and the stored inputs change.
    MLModel.objects.filter(pk=segmented_model.pk).update(criticality="low")
    PredictionPayload.objects.filter(prediction_id__in=ids).update(
        input={}, output={"label": "fraud"}
    )
    assert all(routing_replay(p).matches for p in Prediction.objects.filter(pk__in=ids))


def test_predictions_routed_before_facts_were_stored_are_reconstructed(fraud_model):
    ids = route_traffic(fraud_model, 10)
    Prediction.objects.filter(pk__in=ids).update(routing_facts=None)
    results = [routing_replay(p) for p in Prediction.objects.filter(pk__in=ids)]
    assert {r.facts for r in results} == {RECONSTRUCTED}
    assert all(r.matches for r in results)
    assert results[0].as_dict()["facts"] == "reconstructed"


def test_a_changed_record_is_a_mismatch_naming_what_differs(segmented_model):
    ids = route_traffic(segmented_model, 10)
    routed = next(
        p for p in Prediction.objects.filter(pk__in=ids) if "low_confidence" in p.reason_codes
    )
    facts = {**routed.routing_facts, "confidence": 1.0}
    Prediction.objects.filter(pk=routed.pk).update(routing_facts=facts)
    result = routing_replay(Prediction.objects.get(pk=routed.pk))
    assert not result.matches
    assert {"reasons", "details"} <= set(result.differences)
    assert result.replayed.details["confidence"] == 1.0
    other = next(p for p in Prediction.objects.filter(pk__in=ids) if p.routed and p != routed)
    ReviewItem.objects.filter(prediction=other).update(
        sla_due_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    assert routing_replay(other).differences == ("sla_due_at",)


def test_an_unrouted_prediction_cannot_be_replayed(fraud_model):
    [result] = prediction_batch_ingest(
        envelopes=[envelope_for(fraud_model, "waiting")],
        account=None,
        actor=Actor.system("tests"),
        enqueue=False,
    )
    with pytest.raises(Conflict):
        routing_replay(Prediction.objects.get(pk=result.id))


def test_a_range_is_replayed_in_chunks(segmented_model, django_assert_max_num_queries):
    route_traffic(segmented_model, 25)
    with django_assert_max_num_queries(3 * 5 + 1):  # rows, versions, items per chunk of 6
        results = list(routing_replay_range(model_slug="card-fraud", chunk=6))
    assert len(results) == 25 and all(r.matches for r in results)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert list(routing_replay_range(model_slug="card-fraud", since=later)) == []
    assert len(list(routing_replay_range(model_slug="card-fraud", until=later))) == 25


# --- the command ----------------------------------------------------------------------------
def test_the_command_passes_when_every_decision_replays(segmented_model, capsys):
    route_traffic(segmented_model, 12)
    call_command("replay_routing", "--model", "card-fraud", "--chunk", "5")
    out = capsys.readouterr().out
    assert "card-fraud: 12 checked, 12 match, 0 mismatch" in out


def test_the_command_exits_non_zero_on_a_mismatch(segmented_model, capsys):
    ids = route_traffic(segmented_model, 12)
    Prediction.objects.filter(pk=ids[3]).update(reason_codes=["made_up"], routed=True)
    with pytest.raises(SystemExit) as exc:
        execute_from_command_line(["manage.py", "replay_routing", "--model", "card-fraud"])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert f"MISMATCH prediction {ids[3]}" in captured.out
    assert "1 mismatch" in captured.out
    assert "1 routing decisions do not replay" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], "--model: no model"),
        (["--model", "card-fraud", "--since", "yesterday"], "--since: not an ISO 8601"),
        (["--model", "card-fraud", "--until", "2026-12-01T10:00"], "--until: give the zone"),
        (
            [
                "--model",
                "card-fraud",
                "--since",
                "2026-12-02T00:00Z",
                "--until",
                "2026-12-01T00:00Z",
            ],
            "--until: must be after --since",
        ),
    ],
)
def test_the_command_names_bad_options(segmented_model, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("replay_routing", *args)

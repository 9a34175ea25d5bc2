"""Routing rules v2 (segments, escalation, tolerated error rate) and v1 stability: no database."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from reviewapp.governance import conditions as C
from reviewapp.governance import rules as R
from reviewapp.governance.rules import PredictionFacts, decide, validate_rules

V1 = {
    "min_confidence": 0.70,
    "min_confidence_by_label": {"fraud": 0.80},
    "max_ood_score": 0.60,
    "route_on_drift": True,
    "qa_sample_rate": 0.0,
    "sla_minutes": {"critical": 15, "high": 60, "medium": 240, "low": 1440},
    "fallback": {"label": "fraud", "action": "hold"},
}
V2 = {
    **V1,
    "schema": 2,
    "max_auto_error_rate": 0.02,
    "segments": [
        {
            "name": "high-value",
            "conditions": [{"field": "input.amount", "op": ">=", "value": 10000}],
            "min_confidence": 0.95,
            "min_confidence_by_label": {"legit": 0.97},
            "tier": "critical",
        },
        {
            "name": "watch-countries",
            "conditions": [
                {"field": "input.country", "op": "in", "value": ["KP", "IR"]},
                {"field": "output.label", "op": "==", "value": "legit"},
            ],
            "qa_sample_rate": 1.0,
            "tier": "low",
        },
    ],
    "escalation": {"deferrals_before_escalation": 2, "sla_near_priority_bump": 30},
}


def facts(fields=None, **overrides) -> PredictionFacts:
    base = {
        "model_slug": "card-fraud",
        "external_id": "txn-1",
        "label": "fraud",
        "confidence": 0.9,
        "criticality": "high",
    }
    return PredictionFacts(**{**base, **overrides}, fields=fields or {})


# --- v1 stays exactly as it was -------------------------------------------------------------
GOLDEN = json.loads((Path(__file__).parent / "v1_golden.json").read_text())


def test_v1_hashes_are_unchanged():
    for rules, expected in zip(GOLDEN["rules"], GOLDEN["hashes"], strict=True):
        if rules is not None:
            assert R.rules_hash(rules) == expected
            assert validate_rules(rules) == {}


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: c["facts"][0])
def test_v1_decisions_are_unchanged(case):
    external_id, label, confidence, tier, ood, drift = case["facts"]
    got = decide(
        GOLDEN["rules"][case["rules"]],
        PredictionFacts("card-fraud", external_id, label, confidence, tier, ood, tuple(drift)),
    )
    decision = dataclasses.asdict(got)
    # Fields added since the golden file (operating modes) keep their normal-mode values.
    assert (decision.pop("halted"), decision.pop("mode_sample")) == (False, False)
    assert decision == case["decision"]


def test_v1_may_set_the_new_optional_rules():
    assert validate_rules({**V1, "max_auto_error_rate": None}) == {}
    assert validate_rules({**V1, "schema": 1, "max_auto_error_rate": 0.05}) == {}
    assert validate_rules({**V1, "escalation": {"deferrals_before_escalation": 5}}) == {}
    assert validate_rules({**V1, "segments": []}) == {"segments": ['Segments need "schema": 2.']}


# --- segments in decide (table-driven) ------------------------------------------------------
SEGMENT_CASES = [
    # (name, fields, label, confidence, expected segment, threshold, reasons, priority, sla)
    ("no segment: v1 rules", {"input.amount": 50}, "fraud", 0.79, None, 0.80,
     ["low_confidence"], 51, 60),
    ("high-value overrides threshold and tier", {"input.amount": 10000}, "fraud", 0.91,
     "high-value", 0.95, ["low_confidence"], 74, 15),
    ("segment per-label threshold wins", {"input.amount": 25000.5}, "legit", 0.96,
     "high-value", 0.97, ["low_confidence"], 71, 15),
    ("confident in the segment passes", {"input.amount": 12000}, "fraud", 0.96,
     "high-value", 0.95, [], 0, None),
    ("first match wins", {"input.amount": 20000, "input.country": "KP",
                          "output.label": "legit"}, "legit", 0.99, "high-value", 0.97, [], 0, None),
    ("all conditions must hold", {"input.country": "KP", "output.label": "fraud"}, "fraud",
     0.99, None, 0.80, [], 0, None),
    ("segment QA rate and tier", {"input.country": "IR", "output.label": "legit"}, "legit",
     0.99, "watch-countries", 0.70, ["qa_sample"], 0, 1440),
    ("a string amount is not a number", {"input.amount": "20000"}, "fraud", 0.9, None, 0.80,
     [], 0, None),
    ("a missing path matches nothing", {}, "fraud", 0.9, None, 0.80, [], 0, None),
]  # fmt: skip


@pytest.mark.parametrize("case", SEGMENT_CASES, ids=[c[0] for c in SEGMENT_CASES])
def test_segments(case):
    _, fields, label, confidence, segment, threshold, reasons, priority, sla = case
    d = decide(V2, facts(fields, label=label, confidence=confidence))
    assert d.details.get("segment") == segment
    assert d.threshold == threshold
    assert d.reasons == reasons
    assert d.priority == priority
    assert d.sla_minutes == sla


def test_a_segment_names_itself_in_the_reasons():
    d = decide(V2, facts({"input.amount": 15000}, confidence=0.91, drift_features=("amount",)))
    assert R.describe_reasons(d.reasons, d.details) == [
        "Segment high-value: confidence 0.91 below 0.95",
        "Segment high-value: drift signalled on amount",
    ]
    plain = decide(V1, facts(confidence=0.55))
    assert R.describe_reasons(plain.reasons, plain.details) == [
        "Confidence 0.55 below threshold 0.80"
    ]


OP_CASES = [
    # (op, value, fields, holds)
    ("==", "fraud", {"f": "fraud"}, True),
    ("==", 1, {"f": 1.0}, True),
    ("==", 1, {"f": True}, False),
    ("==", None, {"f": None}, True),
    ("==", None, {}, False),
    ("!=", "x", {"f": "y"}, True),
    ("!=", "x", {}, False),
    ("!=", 1, {"f": "1"}, True),
    ("<", 5, {"f": 4.5}, True),
    ("<", 5, {"f": 5}, False),
    ("<=", 5, {"f": 5}, True),
    (">", 5, {"f": 6}, True),
    (">", 5, {"f": True}, False),
    (">=", 5, {"f": 4}, False),
    ("in", ["NL", "BE"], {"f": "BE"}, True),
    ("in", ["NL", 1], {"f": "1"}, False),
    ("not_in", ["NL"], {"f": "FR"}, True),
    ("not_in", ["NL"], {}, False),
    ("exists", True, {"f": None}, True),
    ("exists", True, {}, False),
    ("exists", False, {}, True),
]


@pytest.mark.parametrize(("op", "value", "fields", "holds"), OP_CASES)
def test_condition_ops(op, value, fields, holds):
    condition = {"field": "input.f", "op": op, "value": value}
    assert C.condition_holds(condition, {f"input.{k}": v for k, v in fields.items()}) is holds


def test_exists_without_a_value_means_present():
    assert C.condition_holds({"field": "input.f", "op": "exists"}, {"input.f": 0})


def test_referenced_paths_and_extraction():
    assert R.referenced_paths(V2) == ("input.amount", "input.country", "output.label")
    assert R.referenced_paths(V1) == ()
    found = C.extract_fields(
        ("input.a.b", "input.missing", "output.label", "input.a.b.c"),
        {"a": {"b": 3}},
        {"label": "x"},
    )
    assert found == {"input.a.b": 3, "output.label": "x"}


def test_facts_round_trip_through_their_record():
    f = facts({"input.amount": 12000, "input.note": None}, ood_score=0.2, drift_features=("a",))
    record = json.loads(json.dumps(R.facts_record(f)))
    assert R.facts_from_record(record) == f


# --- escalation ------------------------------------------------------------------------------
def test_escalation_rules_fall_back_to_the_defaults():
    assert R.escalation_of(V1) == R.DEFAULT_ESCALATION == R.Escalation(3, 20, 600)
    assert R.escalation_of(None) == R.DEFAULT_ESCALATION
    assert R.escalation_of(V2) == R.Escalation(2, 30, 600)
    mine = R.Escalation(4, 5, 60)
    assert R.escalation_of({**V1, "escalation": {"sla_near_minutes": 30}}, mine) == R.Escalation(
        4, 5, 1800
    )


# --- validation names every bad path --------------------------------------------------------
def test_v2_is_valid_and_hashes_like_any_rules():
    assert validate_rules(V2, labels=["fraud", "legit"]) == {}
    assert R.rules_hash(V2) == R.rules_hash(json.loads(json.dumps(V2)))


def test_v2_requires_the_tolerated_error_rate():
    rules = {k: v for k, v in V2.items() if k != "max_auto_error_rate"}
    assert list(validate_rules(rules)) == ["max_auto_error_rate"]
    assert list(validate_rules({**V2, "max_auto_error_rate": 1.5})) == ["max_auto_error_rate"]
    assert list(validate_rules({**V1, "max_auto_error_rate": "2%"})) == ["max_auto_error_rate"]


def test_validate_names_every_bad_path():
    bad = {
        **V2,
        "schema": 2,
        "escalation": {"deferrals_before_escalation": 0, "sla_near_bump": 5},
        "segments": [
            V2["segments"][0],
            {
                "name": "high-value",
                "conditions": [
                    {"field": "input.amount", "op": "~=", "value": 1},
                    {"field": "amount", "op": "<", "value": "10"},
                    {"field": "input.country", "op": "in", "value": []},
                    {"field": "input.x", "op": "exists", "value": "yes"},
                    {"field": "output.label", "op": "==", "value": {"a": 1}, "extra": 1},
                    {"field": "input.y", "op": "!="},
                    "not an object",
                ],
                "min_confidence_by_label": {"cat": 0.5},
                "qa_sample_rate": 2,
                "tier": "urgent",
                "threshold": 0.9,
            },
            {"name": "Bad Name", "conditions": []},
            7,
        ],
    }
    errors = validate_rules(bad, labels=["fraud", "legit"])
    assert set(errors) == {
        "escalation.deferrals_before_escalation",
        "escalation.sla_near_bump",
        "segments[1].name",
        "segments[1].conditions[0].op",
        "segments[1].conditions[1].field",
        "segments[1].conditions[1].value",
        "segments[1].conditions[2].value",
        "segments[1].conditions[3].value",
        "segments[1].conditions[4].value",
        "segments[1].conditions[4].extra",
        "segments[1].conditions[5].value",
        "segments[1].conditions[6]",
        "segments[1].min_confidence_by_label.cat",
        "segments[1].qa_sample_rate",
        "segments[1].tier",
        "segments[1].threshold",
        "segments[2].name",
        "segments[2].conditions",
        "segments[3]",
    }
    assert errors["segments[1].name"] == ["Another segment has this name."]


def test_an_unknown_schema_is_named():
    assert list(validate_rules({**V2, "schema": 3})) == ["schema"]
    assert list(validate_rules({**V1, "schema": True})) == ["schema"]


def test_a_non_finite_number_in_a_segment_is_named():
    rules = json.loads(json.dumps(V2))
    rules["segments"][0]["conditions"][0]["value"] = float("nan")
    errors = validate_rules(rules)
    assert "segments[0].conditions[0].value" in errors


# --- docs/policies.md's JSON Schema says what validate_rules says ----------------------------
def _doc_json_blocks() -> list:
    import re

    text = (Path(__file__).parents[2] / "docs" / "policies.md").read_text()
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_the_documented_json_schema_agrees_with_validate_rules():
    jsonschema = pytest.importorskip("jsonschema")  # drf-spectacular brings it
    *examples, schema = _doc_json_blocks()
    validator = jsonschema.Draft202012Validator(schema)
    v2_example = examples[-1]
    for good in (v2_example, V2):
        assert validate_rules(good) == {}
        assert not list(validator.iter_errors(good))
    bad = json.loads(json.dumps(V2))
    bad["segments"][1]["conditions"][0] = {"field": "amount", "op": "in", "value": []}
    assert validate_rules(bad)
    assert len(list(validator.iter_errors(bad))) >= 1

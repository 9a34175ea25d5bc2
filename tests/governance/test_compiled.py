"""The compiled form of a policy (governance/compiled.py) decides exactly what rules.decide
decides: over many random policies of both schemas and many random facts."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewapp.governance.compiled import compile_condition, compile_policy
from reviewapp.governance.conditions import condition_holds
from reviewapp.governance.rules import (
    CONTAINED,
    HALTED,
    NORMAL,
    TIERS,
    PredictionFacts,
    decide,
    facts_from_record,
    facts_record,
    top_scores,
    validate_rules,
)

LABELS = ["fraud", "legit", "unsure"]
PATHS = ["input.amount", "input.country", "input.flag", "output.label", "input.nested.score"]
# Values a stored field may hold: every JSON kind, with 1 / 1.0 / true and "1" to tell apart.
# Drawn mostly from a small pool, so fields often equal the conditions' constants.
POOL = [None, True, False, 0, 1, 1.0, 2, 10_000, 9999.5, -3, 0.5, "NL", "FR", "legit", "1", ""]
SCALARS = st.one_of(
    st.sampled_from(POOL),
    st.sampled_from(POOL),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
FIELD_VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=2), st.just({"a": 1}))
unit = st.one_of(st.floats(min_value=0, max_value=1), st.sampled_from([0, 0.5, 0.7, 0.9, 1]))


@st.composite
def conditions(draw):
    # Weighted towards operators that often hold, so random segments often match.
    ops = ["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists", "exists", "!=", "not_in"]
    op = draw(st.sampled_from(ops))
    condition = {"field": draw(st.sampled_from(PATHS)), "op": op}
    if op == "exists":
        if draw(st.booleans()):
            condition["value"] = draw(st.booleans())
    elif op in ("<", "<=", ">", ">="):
        condition["value"] = draw(
            st.one_of(st.sampled_from([0, 1, 2, 10_000, 0.5, -3]), st.floats(-1e6, 1e6))
        )
    elif op in ("in", "not_in"):
        condition["value"] = draw(st.lists(SCALARS, min_size=1, max_size=4))
    else:
        condition["value"] = draw(SCALARS)
    return condition


@st.composite
def segments(draw, index: int):
    segment = {
        "name": f"s{index}",
        "conditions": draw(st.lists(conditions(), min_size=1, max_size=2)),
    }
    if draw(st.booleans()):
        segment["min_confidence"] = draw(unit)
    if draw(st.booleans()):
        segment["min_confidence_by_label"] = draw(
            st.dictionaries(st.sampled_from(LABELS), unit, max_size=2)
        )
    if draw(st.booleans()):
        segment["qa_sample_rate"] = draw(st.sampled_from([0, 0.3, 1]))
    if draw(st.booleans()):
        segment["tier"] = draw(st.sampled_from(TIERS))
    return segment


@st.composite
def policies(draw):
    schema = draw(st.sampled_from([1, 2]))
    rules = {
        "min_confidence": draw(unit),
        "sla_minutes": {tier: draw(st.integers(1, 1440)) for tier in TIERS},
        "fallback": {"action": "hold"},
    }
    if schema == 2:
        rules["schema"] = 2
        rules["max_auto_error_rate"] = 0.02
        n = draw(st.integers(0, 3))
        rules["segments"] = [draw(segments(i)) for i in range(n)]
    if draw(st.booleans()):
        rules["min_confidence_by_label"] = draw(
            st.dictionaries(st.sampled_from(LABELS), unit, max_size=2)
        )
    if draw(st.booleans()):
        rules["max_ood_score"] = draw(st.one_of(st.none(), st.sampled_from([0, 0.5, 0.9])))
    if draw(st.booleans()):
        rules["route_on_drift"] = draw(st.booleans())
    if draw(st.booleans()):
        rules["qa_sample_rate"] = draw(st.sampled_from([0, 0.1, 0.5, 1]))
    assert validate_rules(rules, labels=LABELS) == {}, validate_rules(rules, labels=LABELS)
    return rules


facts_strategy = st.builds(
    PredictionFacts,
    model_slug=st.sampled_from(["card-fraud", "loans"]),
    external_id=st.text(min_size=1, max_size=8),
    label=st.sampled_from(LABELS),
    confidence=st.one_of(unit, st.sampled_from([0, 1, 0.5, 0.7, 0.9, 0.95, 0.99])),
    criticality=st.sampled_from([*TIERS, "unknown"]),
    ood_score=st.one_of(st.none(), st.none(), unit),
    drift_features=st.sampled_from([(), (), (), ("amount",), ("amount", "country")]),
    fields=st.dictionaries(st.sampled_from(PATHS), FIELD_VALUES, min_size=3, max_size=5),
)
# The output's scores as ingest summarises them for the label's own (rules.top_scores): none
# sent, or scores over the labels from a small pool, so ties and a label without a score are
# common; and now and then a mode other than normal, which takes the full path.
SCORES = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(LABELS), st.sampled_from([0, 0.1, 0.45, 0.5, 0.55, 0.9, 1])),
)


@st.composite
def facts_with_scores(draw):
    one = draw(facts_strategy)
    return dataclasses.replace(
        one,
        top_scores=top_scores(one.label, draw(SCORES)) or {},
        mode=draw(st.sampled_from([NORMAL, NORMAL, NORMAL, CONTAINED, HALTED])),
        mode_sample_rate=draw(st.sampled_from([0.0, 0.5, 1.0])),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.one_of(st.none(), policies()),
    facts=st.lists(facts_with_scores(), min_size=1, max_size=8),
)
def test_the_compiled_policy_decides_what_decide_decides(rules, facts):
    compiled = compile_policy(rules)
    for one in facts:
        assert compiled.decide(one) == decide(rules, one)
        # What replay and the evidence call: the stored record, as a tuple.
        routed, reasons, threshold, margin, priority, sla, details = compiled.outcome_of_record(
            facts_record(one)
        )
        expected = decide(rules, facts_from_record(facts_record(one)))
        assert (routed, reasons, threshold, margin, priority, sla, details) == (
            expected.routed,
            expected.reasons,
            expected.threshold,
            expected.margin,
            expected.priority,
            expected.sla_minutes,
            expected.details,
        )


@settings(max_examples=800, deadline=None)
@given(condition=conditions(), fields=st.dictionaries(st.sampled_from(PATHS), FIELD_VALUES))
def test_a_compiled_condition_holds_where_condition_holds(condition, fields):
    assert compile_condition(condition)(fields) is condition_holds(condition, fields)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, [True, True, False, False]),
        (True, [False, False, True, False]),
        ("1", [False] * 3 + [True]),
    ],
)
def test_json_kinds_are_told_apart(value, expected):
    """1 equals 1.0, true is not 1, "1" is not 1: in == and in ``in`` alike."""
    fields = {"input.x": value}
    for constant, want in zip([1, 1.0, True, "1"], expected, strict=True):
        eq = {"field": "input.x", "op": "==", "value": constant}
        member = {"field": "input.x", "op": "in", "value": [constant, None]}
        assert compile_condition(eq)(fields) is want
        assert compile_condition(member)(fields) is want


GRID_POLICY = {
    "schema": 2,
    "min_confidence": 0.7,
    "min_confidence_by_label": {"fraud": 0.8},
    "max_ood_score": 0.6,
    "qa_sample_rate": 0.5,
    "sla_minutes": {"critical": 15, "high": 60, "medium": 240, "low": 1440},
    "fallback": {"action": "hold"},
    "max_auto_error_rate": 0.02,
    "segments": [
        # own threshold and QA rate, a tier
        {
            "name": "big",
            "conditions": [{"field": "input.amount", "op": ">=", "value": 10_000}],
            "min_confidence": 0.95,
            "qa_sample_rate": 0.9,
            "tier": "critical",
        },
        # no threshold of its own: per-label over the policy's, the policy's QA rate
        {
            "name": "nl",
            "conditions": [{"field": "input.country", "op": "in", "value": ["NL", "BE"]}],
            "min_confidence_by_label": {"legit": 0.9},
        },
        {"name": "flagged", "conditions": [{"field": "input.flag", "op": "exists"}], "tier": "low"},
    ],
}


@pytest.mark.parametrize("rules", [GRID_POLICY, {**GRID_POLICY, "schema": 1, "segments": []}])
def test_the_compiled_policy_on_a_grid_of_facts(rules):
    """Every branch of decide on purpose: each segment, each fallback of threshold, QA rate and
    tier, the reasons alone and together, sampled and not."""
    if rules["schema"] == 1:
        rules = {k: v for k, v in rules.items() if k not in ("schema", "segments")}
    compiled = compile_policy(rules)
    inputs = [
        {},
        {"input.amount": 12_000},
        {"input.amount": 10_000.0, "input.country": "NL"},
        {"input.country": "BE"},
        {"input.country": "FR", "input.flag": None},
    ]
    n = 0
    for fields in inputs:
        for label in ("fraud", "legit"):
            for confidence in (0.5, 0.75, 0.85, 0.92, 0.97, 1):
                for ood, drift in ((None, ()), (0.7, ()), (0.1, ("amount",))):
                    for external_id in ("a", "b", "c", "d", "e", "f"):
                        for scores in SCORE_GRID:
                            facts = PredictionFacts(
                                model_slug="m",
                                external_id=external_id,
                                label=label,
                                confidence=confidence,
                                criticality="medium",
                                ood_score=ood,
                                drift_features=drift,
                                fields=fields,
                                top_scores=top_scores(label, scores) or {},
                            )
                            assert compiled.decide(facts) == decide(rules, facts), facts
                            record = facts_record(facts)
                            expected = decide(rules, facts_from_record(record))
                            assert compiled.outcome_of_record(record)[:2] == (
                                expected.routed,
                                expected.reasons,
                            )
                            n += 1
    assert n == 5 * 2 * 6 * 3 * 6 * len(SCORE_GRID)


# No scores, the label on top, a tie, another label on top, the label without a score.
SCORE_GRID = [
    None,
    {"fraud": 0.9, "legit": 0.1},
    {"fraud": 0.5, "legit": 0.5},
    {"fraud": 0.1, "legit": 0.9},
    {"unsure": 0.6},
]

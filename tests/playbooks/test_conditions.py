"""The step condition language: parse, evaluate (three-valued), words."""

import pytest

from playbooks import conditions
from playbooks.conditions import ConditionError, evaluate, in_words, parse


@pytest.mark.parametrize(
    ("text", "facts", "expected"),
    [
        ("severity >= S2", {"severity": "S1"}, True),
        ("severity >= S2", {"severity": "S2"}, True),
        ("severity >= S2", {"severity": "S3"}, False),
        ("severity > S2", {"severity": "S2"}, False),
        ("severity < S3", {"severity": "S4"}, True),
        ("model.criticality == critical", {"model.criticality": "critical"}, True),
        ("model.criticality >= high", {"model.criticality": "medium"}, False),
        ("model.mode in (contained, halted)", {"model.mode": "halted"}, True),
        ("model.mode not in (contained, halted)", {"model.mode": "normal"}, True),
        ("severity >= S2 and model.mode == normal", {"severity": "S1", "model.mode": "contained"}, False),
        ("severity >= S2 or model.criticality == critical", {"severity": "S4", "model.criticality": "critical"}, True),
        # and binds tighter than or
        ("severity == S4 or severity == S1 and model.mode == halted", {"severity": "S4", "model.mode": "normal"}, True),
        ("", {}, True),
    ],
)  # fmt: skip
def test_evaluate(text, facts, expected):
    assert evaluate(text, facts) is expected


def test_an_unknown_fact_leaves_the_step_undecided_not_skipped():
    assert evaluate("severity >= S2", {}) is None
    # three-valued: a false clause decides an "and", a true one an "or"
    assert evaluate("severity >= S2 and model.mode == halted", {"model.mode": "normal"}) is False
    assert evaluate("severity >= S2 or model.mode == halted", {"model.mode": "halted"}) is True
    assert evaluate("severity >= S2 or model.mode == halted", {"model.mode": "normal"}) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("severity >= S5", "not a value of severity"),
        ("colour == red", "Unknown field"),
        ("model.mode > normal", "has no order"),
        ("severity >=", "Cannot read"),
        ("model.mode in ()", "at least one value"),
        ("severity >= S2 and " * 8 + "severity >= S2", "At most 8 clauses"),
        ("failure_mode == nope", "not a value of failure_mode"),
    ],
)
def test_parse_refuses_with_a_reason(text, message):
    with pytest.raises(ConditionError, match=message):
        parse(text, known={"failure_mode": {"currency-mix-drift"}})


def test_open_fields_check_the_known_values():
    parse("alert.monitor == ood-rate", known={"alert.monitor": {"ood-rate"}})
    with pytest.raises(ConditionError, match="ood-rat"):
        parse("alert.monitor == ood-rat", known={"alert.monitor": {"ood-rate"}})


def test_in_words():
    assert in_words("severity >= S2") == "Only when severity is S2 or more severe"
    assert (
        in_words("model.criticality == critical or model.mode in (contained, halted)")
        == "Only when the model's criticality is critical — or when the model's mode is one "
        "of contained, halted"
    )
    assert in_words("") == ""


def test_every_field_has_words():
    assert set(conditions.FIELD_WORDS) == set(conditions.FIELDS)

"""Feature profiles and their checker (pure: no database), and the findings in words."""

from __future__ import annotations

import json
import random

import pytest

from reviewapp import demo
from reviewapp.failsafe.profiles import MAX_FINDINGS, compile_checker, learn_profile
from reviewapp.governance.anomalies import describe_anomaly_reason, describe_findings
from reviewapp.governance.rules import DATA_ANOMALY, describe_reasons


def fraud_inputs(n: int, *, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [demo.envelope("card-fraud", i, rng)["input"] for i in range(n)]


@pytest.fixture(scope="module")
def profile() -> dict:
    return learn_profile(fraud_inputs(2000), window_days=7)


@pytest.fixture(scope="module")
def check(profile):
    return compile_checker(profile)


# --- learning -------------------------------------------------------------------------------
def test_too_few_rows_learn_no_profile_and_no_checker():
    assert learn_profile(fraud_inputs(199), window_days=7) is None
    # Inputs that are not JSON objects do not count.
    assert learn_profile(["text"] * 500 + fraud_inputs(150), window_days=7) is None
    assert compile_checker(None) is None


def test_a_profile_holds_types_presence_quantiles_and_categories(profile):
    fields = profile["fields"]
    assert profile["rows"] == 2000 and profile["window_days"] == 7 and not profile["truncated"]
    amount = fields["amount"]
    assert amount["present"] == 1.0 and amount["non_null"] == 1.0
    assert amount["types"] == {"number": 1.0}
    num = amount["num"]
    assert num["min"] <= num["p1"] < num["p50"] < num["p99"] <= num["max"]
    assert fields["currency"]["cats"] == [["EUR", 1.0]] and fields["currency"]["closed"]
    assert fields["device_seen_before"]["types"] == {"bool": 1.0}
    assert {v for v, _ in fields["device_seen_before"]["cats"]} == {True, False}
    # Small and JSON: what the database stores.
    assert len(json.dumps(profile)) < 4000


def test_nested_objects_are_profiled_one_level_deep_and_fields_are_capped():
    rows = [
        {
            "meta": {"ip": f"10.0.0.{i % 200}", "geo": {"lat": 1.0}},
            **{f"f{k}": k for k in range(i % 3)},
        }
        for i in range(300)
    ]
    profile = learn_profile(rows, window_days=7)
    assert profile["fields"]["meta.ip"]["path"] == ["meta", "ip"]
    assert profile["fields"]["meta.geo"]["types"] == {"object": 1.0}
    assert "meta.geo.lat" not in profile["fields"]
    # Many distinct values: categories kept but not "closed" (an unseen one is no finding).
    assert profile["fields"]["meta.ip"]["closed"] is False

    capped = learn_profile(rows, window_days=7, max_fields=2)
    assert list(capped["fields"]) == ["meta", "meta.geo"]
    assert capped["truncated"] is True
    assert compile_checker(capped)({"meta": {"ip": "x", "geo": {}}, "brand_new": 1}) == []


def test_learning_is_deterministic():
    a = learn_profile(fraud_inputs(500, seed=3), window_days=7)
    b = learn_profile(fraud_inputs(500, seed=3), window_days=7)
    assert json.dumps(a) == json.dumps(b)


# --- checking -------------------------------------------------------------------------------
def test_usual_inputs_have_no_findings(check):
    fresh = fraud_inputs(2000, seed=99)
    assert sum(1 for x in fresh if check(x)) == 0


def test_each_kind_of_finding(check, profile):
    base = fraud_inputs(1, seed=5)[0]
    p99 = profile["fields"]["amount"]["num"]["p99"]

    def one(**change):
        x = dict(base)
        for k, v in change.items():
            if v is ...:
                x.pop(k)
            else:
                x[k] = v
        return check(x)

    [high] = one(amount=48210)
    assert high == {
        "field": "amount", "kind": "out_of_range", "value": 48210, "side": "high",
        "p1": profile["fields"]["amount"]["num"]["p1"], "p99": p99,
        "ratio": round(48210 / p99, 1), "window_days": 7,
    }  # fmt: skip
    [low] = one(hour_of_day=-400)
    assert (low["kind"], low["side"], low["ratio"]) == ("out_of_range", "low", None)
    assert one(device_seen_before=...) == [
        {"field": "device_seen_before", "kind": "missing", "presence": 1.0, "window_days": 7}
    ]
    assert one(country=None) == [
        {"field": "country", "kind": "null", "non_null": 1.0, "window_days": 7}
    ]
    assert one(merchant_category="crypto") == [
        {"field": "merchant_category", "kind": "unseen_category", "value": "crypto",
         "window_days": 7}
    ]  # fmt: skip
    assert one(card_age_days="412") == [
        {"field": "card_age_days", "kind": "type_changed", "got": "text", "usual": "number",
         "window_days": 7}
    ]  # fmt: skip
    assert one(loyalty_tier="gold") == [
        {"field": "loyalty_tier", "kind": "new_field", "window_days": 7}
    ]
    # A value inside what recent traffic had is no finding, however large.
    assert one(amount=profile["fields"]["amount"]["num"]["max"]) == []
    assert check("not an object") == [
        {
            "field": "input",
            "kind": "type_changed",
            "got": "text",
            "usual": "object",
            "window_days": 7,
        }
    ]


def test_nested_fields_are_checked_and_findings_are_capped():
    rows = [{"id": i, "meta": {"ip": "10.0.0.1", "ua": "app"}} for i in range(300)]
    check = compile_checker(learn_profile(rows, window_days=7))
    assert check({"id": 5, "meta": {"ip": "10.0.0.1"}}) == [
        {"field": "meta.ua", "kind": "missing", "presence": 1.0, "window_days": 7}
    ]
    # The parent missing: one finding for it, none for each of its fields.
    assert [f["field"] for f in check({"id": 5})] == ["meta"]
    assert check({"id": 5, "meta": {"ip": "10.0.0.1", "ua": "app", "os": "x"}}) == [
        {"field": "meta.os", "kind": "new_field", "window_days": 7}
    ]
    many = {"id": 5, "meta": {"ip": "10.0.0.1", "ua": "app"}, **{f"n{k:02d}": k for k in range(30)}}
    found = check(many)
    assert len(found) == MAX_FINDINGS and found == check(dict(many))
    # A field name is cut to 80 characters in a finding (the facts stay small).
    [long] = check({"id": 5, "meta": {"ip": "10.0.0.1", "ua": "app"}, "k" * 500: 1})
    assert long["field"] == "k" * 80


def test_a_renamed_field_gives_findings_on_every_prediction(check):
    """A schema change upstream (device_seen_before renamed to device_known) shows on 100 %
    of predictions, so the anomaly-rate monitor contains the model."""
    renamed = []
    for x in fraud_inputs(1000, seed=42):
        x = dict(x)
        x["device_known"] = x.pop("device_seen_before")
        renamed.append(x)
    findings = [check(x) for x in renamed]
    assert all(findings)
    assert {(f["field"], f["kind"]) for fs in findings for f in fs} == {
        ("device_seen_before", "missing"),
        ("device_known", "new_field"),
    }
    # A type changed upstream (amounts sent as strings) likewise.
    assert all(check({**x, "amount": str(x["amount"])}) for x in fraud_inputs(300, seed=43))


# --- in words -------------------------------------------------------------------------------
def test_findings_read_as_sentences():
    lines = describe_findings([
        {"field": "amount", "kind": "out_of_range", "value": 48210, "side": "high", "p1": 3.3,
         "p99": 1205.25, "ratio": 40.0, "window_days": 7},
        {"field": "device_seen_before", "kind": "missing", "presence": 0.998, "window_days": 7},
        {"field": "merchant_category", "kind": "unseen_category", "value": "crypto",
         "window_days": 7},
        {"field": "age", "kind": "type_changed", "got": "text", "usual": "number"},
        {"field": "country", "kind": "null", "non_null": 0.99996, "window_days": 7},
        {"field": "hour", "kind": "out_of_range", "value": -400, "side": "low", "p1": 0,
         "p99": 23, "ratio": None, "window_days": 7},
        {"field": "amount", "kind": "out_of_range", "value": 1500.5, "side": "high", "p1": 3.3,
         "p99": 1205.25, "ratio": 1.2, "window_days": 7},
        {"field": "cvv_match", "kind": "unseen_category", "value": False, "window_days": 7},
        {"field": "device_known", "kind": "new_field", "window_days": 7},
        {"field": "x", "kind": "something_later"},
    ])  # fmt: skip
    assert lines == [
        "amount 48,210 is 40× the 99th percentile of the last 7 days",
        "device_seen_before missing (present in 99.8 % of recent predictions)",
        "merchant_category 'crypto' never seen in the last 7 days",
        "age is text, usually a number",
        "country is empty (set in 99.99 % of recent predictions)",
        "hour -400 is far below the 1st percentile (0) of the last 7 days",
        "amount 1,500.5 is far above the 99th percentile (1,205.25) of the last 7 days",
        "cvv_match false never seen in the last 7 days",
        "device_known is new (never sent in the last 7 days)",
        "x: something_later",
    ]


def test_the_data_anomaly_reason_names_the_first_finding_and_counts_the_rest():
    one = {"field": "device_seen_before", "kind": "missing", "presence": 0.998, "window_days": 7}
    two = {"field": "device_known", "kind": "new_field", "window_days": 7}
    assert describe_reasons([DATA_ANOMALY], {"anomalies": [one, two]}) == [
        "Input unlike recent traffic: device_seen_before missing (present in 99.8 % of recent "
        "predictions) (and 1 more finding)"
    ]
    assert describe_anomaly_reason([one]).startswith("Input unlike recent traffic: device_seen")
    assert describe_reasons([DATA_ANOMALY], {}) == ["Input unlike the model's recent traffic"]

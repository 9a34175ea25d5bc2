"""Routing rules v1 (reviewapp/governance/rules.py): pure functions, no database."""

from __future__ import annotations

import hashlib
import json
import math

import pytest

from reviewapp.governance import rules as R
from reviewapp.governance.rules import PredictionFacts, decide

RULES = {
    "min_confidence": 0.70,
    "min_confidence_by_label": {"fraud": 0.80, "legit": 0.50},
    "max_ood_score": 0.60,
    "route_on_drift": True,
    "qa_sample_rate": 0.0,
    "sla_minutes": {"critical": 16, "high": 60, "medium": 240, "low": 1440},
    "fallback": {"label": "fraud", "action": "hold"},
}


def facts(**overrides) -> PredictionFacts:
    base = {
        "model_slug": "card-fraud",
        "external_id": "txn-1",
        "label": "other",
        "confidence": 0.9,
        "criticality": "high",
        "ood_score": None,
        "drift_features": (),
    }
    base.update(overrides)
    return PredictionFacts(**base)


def rules(**overrides) -> dict:
    return {**RULES, **overrides}


# --- thresholds -----------------------------------------------------------------------------
def test_confidence_below_the_global_threshold_is_routed():
    decision = decide(RULES, facts(label="other", confidence=0.69))
    assert decision.routed
    assert decision.reasons == [R.LOW_CONFIDENCE]
    assert decision.threshold == 0.70


def test_confidence_at_the_threshold_is_not_routed():
    decision = decide(RULES, facts(label="other", confidence=0.70))
    assert not decision.routed
    assert decision.reasons == []
    assert decision.fallback is None
    assert decision.sla_minutes is None
    assert decision.priority == 0


def test_a_per_label_threshold_overrides_the_global_one_both_ways():
    # "fraud" is stricter than global: 0.75 passes globally but not for fraud.
    assert decide(RULES, facts(label="fraud", confidence=0.75)).reasons == [R.LOW_CONFIDENCE]
    assert decide(RULES, facts(label="fraud", confidence=0.75)).threshold == 0.80
    # "legit" is looser: 0.55 fails globally but passes for legit.
    assert not decide(RULES, facts(label="legit", confidence=0.55)).routed
    assert decide(RULES, facts(label="legit", confidence=0.55)).threshold == 0.50
    # A label without an override uses the global threshold.
    assert R.threshold_for(RULES, "other") == 0.70


def test_without_per_label_thresholds_the_global_one_applies():
    plain = {k: v for k, v in RULES.items() if k != "min_confidence_by_label"}
    assert decide(plain, facts(label="fraud", confidence=0.75)).routed is False
    assert decide(plain, facts(label="fraud", confidence=0.65)).routed is True


# --- OOD and drift --------------------------------------------------------------------------
def test_ood_score_above_the_limit_is_routed_even_when_confident():
    decision = decide(RULES, facts(confidence=0.99, ood_score=0.61))
    assert decision.reasons == [R.OOD_ABOVE_LIMIT]
    assert decision.details["ood_score"] == 0.61
    assert decision.details["max_ood_score"] == 0.60


@pytest.mark.parametrize(
    ("limit", "score", "routed"),
    [
        (0.6, 0.6, False),
        (0.6, 0.59, False),
        (0.6, None, False),
        (None, 0.99, False),
        (0, 0.01, True),
    ],
)
def test_ood_limit_is_strict_and_optional(limit, score, routed):
    decision = decide(rules(max_ood_score=limit), facts(confidence=0.99, ood_score=score))
    assert decision.routed is routed


def test_drift_signals_route_unless_the_policy_ignores_drift():
    drifting = facts(confidence=0.99, drift_features=("amount", "country"))
    decision = decide(RULES, drifting)
    assert decision.reasons == [R.DRIFT_SIGNALLED]
    assert decision.details["drift_features"] == ["amount", "country"]
    assert not decide(rules(route_on_drift=False), drifting).routed
    # Drift routing is on when the policy does not say.
    defaulted = {k: v for k, v in RULES.items() if k != "route_on_drift"}
    assert decide(defaulted, drifting).routed
    # No drift features, no drift reason.
    assert not decide(RULES, facts(confidence=0.99, drift_features=())).routed


def test_all_reasons_are_listed_in_a_fixed_order():
    decision = decide(
        RULES, facts(label="fraud", confidence=0.5, ood_score=0.9, drift_features=("amount",))
    )
    assert decision.reasons == [R.LOW_CONFIDENCE, R.OOD_ABOVE_LIMIT, R.DRIFT_SIGNALLED]


# --- QA sample ------------------------------------------------------------------------------
def test_qa_bucket_is_fixed_by_model_and_key():
    assert R.qa_bucket("card-fraud", "txn-1") == R.qa_bucket("card-fraud", "txn-1")
    assert 0 <= R.qa_bucket("card-fraud", "txn-1") < 1
    assert R.qa_bucket("card-fraud", "txn-1") != R.qa_bucket("support-triage", "txn-1")
    assert R.qa_bucket("card-fraud", "txn-1") != R.qa_bucket("card-fraud", "txn-2")
    # The separator keeps ("a", "bc") and ("ab", "c") apart.
    assert R.qa_bucket("a", "bc") != R.qa_bucket("ab", "c")


def test_qa_bucket_follows_the_documented_formula():
    """docs/policies.md: int(sha256(slug + "\\x1f" + key)[:8 bytes], big-endian) / 2**64."""
    digest = hashlib.sha256(b"card-fraud\x1ftxn-000123").digest()
    expected = int.from_bytes(digest[:8], "big") / 2**64
    assert R.qa_bucket("card-fraud", "txn-000123") == expected


def test_the_qa_sample_is_deterministic_and_respects_the_rate_over_10k_keys():
    policy = rules(qa_sample_rate=0.05)
    keys = [f"txn-{i:05d}" for i in range(10_000)]
    first = [decide(policy, facts(external_id=k, confidence=0.99)).routed for k in keys]
    second = [decide(policy, facts(external_id=k, confidence=0.99)).routed for k in keys]
    assert first == second  # replaying the same traffic picks the same items
    rate = sum(first) / len(keys)
    # Binomial(10k, 0.05) has sd ~0.0022; 0.04..0.06 is about +-4.5 sd.
    assert 0.04 <= rate <= 0.06, rate
    sampled = [k for k, routed in zip(keys, first, strict=True) if routed]
    assert all(R.qa_bucket("card-fraud", k) < 0.05 for k in sampled)
    assert decide(policy, facts(external_id=sampled[0], confidence=0.99)).reasons == [R.QA_SAMPLE]


def test_a_higher_rate_samples_a_superset():
    keys = [f"k{i}" for i in range(2000)]
    low = {k for k in keys if decide(rules(qa_sample_rate=0.1), facts(external_id=k)).routed}
    high = {k for k in keys if decide(rules(qa_sample_rate=0.3), facts(external_id=k)).routed}
    assert low < high


@pytest.mark.parametrize(("rate", "expected"), [(0, 0), (1, 500)])
def test_rate_zero_samples_nothing_and_one_samples_everything(rate, expected):
    policy = rules(qa_sample_rate=rate)
    routed = sum(decide(policy, facts(external_id=f"k{i}")).routed for i in range(500))
    assert routed == expected


def test_the_qa_sample_only_adds_a_reason_when_nothing_else_routed_it():
    policy = rules(qa_sample_rate=1.0)
    assert decide(policy, facts(confidence=0.1)).reasons == [R.LOW_CONFIDENCE]


# --- no active policy: fail safe ------------------------------------------------------------
@pytest.mark.parametrize("tier", ["critical", "high", "medium", "low"])
def test_no_policy_routes_everything(tier):
    decision = decide(None, facts(confidence=1.0, criticality=tier))
    assert decision.routed
    assert decision.reasons == [R.NO_ACTIVE_POLICY]
    assert decision.threshold is None
    assert decision.priority == R.TIER_PRIORITY[tier] + 20
    assert decision.sla_minutes == R.NO_POLICY_SLA_MINUTES[tier]
    assert decision.fallback == {"action": "hold", "reason": R.NO_ACTIVE_POLICY}


def test_the_no_policy_fallback_is_a_copy():
    decide(None, facts()).fallback["action"] = "changed"
    assert decide(None, facts()).fallback["action"] == "hold"


# --- priority and SLA -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tier", "confidence", "priority"),
    [
        ("critical", 0.69, 71),  # margin -0.01 -> +1
        ("critical", 0.60, 80),  # margin -0.10 -> +10
        ("critical", 0.30, 90),  # margin -0.40 -> +20 at most
        ("high", 0.65, 55),
        ("medium", 0.65, 35),
        ("low", 0.65, 15),
        ("low", 0.10, 30),
        ("unknown-tier", 0.65, 55),  # an unknown tier counts as high
    ],
)
def test_priority_is_the_tier_base_plus_the_margin_below_threshold(tier, confidence, priority):
    decision = decide(RULES, facts(label="other", confidence=confidence, criticality=tier))
    assert decision.priority == priority
    assert decision.margin == pytest.approx(confidence - 0.70)


def test_ood_or_drift_add_ten_once_and_priority_caps_at_100():
    both = decide(RULES, facts(confidence=0.99, ood_score=0.9, drift_features=("a",)))
    assert both.priority == R.TIER_PRIORITY["high"] + 10
    worst = decide(
        RULES,
        facts(criticality="critical", confidence=0.0, ood_score=0.9, drift_features=("a",)),
    )
    assert worst.priority == 100


def test_a_qa_sample_sits_ten_below_the_tier_base_and_never_below_zero():
    policy = rules(qa_sample_rate=1.0)
    assert decide(policy, facts(criticality="critical")).priority == 60
    assert decide(policy, facts(criticality="low")).priority == 0
    assert decide(policy, facts(criticality="low")).sla_minutes == 1440


@pytest.mark.parametrize(
    ("confidence", "sla"),
    [
        (0.69, 60),  # just below: the tier's SLA
        (0.51, 60),  # margin -0.19
        (0.50, 30),  # margin exactly -0.20: far below, half the SLA
        (0.10, 30),
    ],
)
def test_sla_is_the_tiers_minutes_halved_when_far_below_threshold(confidence, sla):
    decision = decide(RULES, facts(label="other", confidence=confidence, criticality="high"))
    assert decision.sla_minutes == sla


def test_halved_sla_rounds_up_and_stays_at_least_one_minute():
    odd = rules(sla_minutes={"critical": 15, "high": 1, "medium": 3, "low": 5})
    assert decide(odd, facts(confidence=0.1, criticality="critical")).sla_minutes == 8
    assert decide(odd, facts(confidence=0.1, criticality="high")).sla_minutes == 1


def test_ood_alone_keeps_the_full_sla():
    decision = decide(RULES, facts(confidence=0.99, ood_score=0.9, criticality="critical"))
    assert decision.sla_minutes == 16


def test_the_fallback_of_a_routed_decision_is_the_policys_and_a_copy():
    decision = decide(RULES, facts(confidence=0.1))
    assert decision.fallback == RULES["fallback"]
    decision.fallback["label"] = "changed"
    assert RULES["fallback"]["label"] == "fraud"


# --- readable reasons -----------------------------------------------------------------------
def test_describe_reasons_reads_like_a_sentence():
    decision = decide(
        RULES, facts(label="fraud", confidence=0.5, ood_score=0.9, drift_features=("amount",))
    )
    assert R.describe_reasons(decision.reasons, decision.details) == [
        "Confidence 0.50 below threshold 0.80",
        "OOD score 0.90 above 0.60",
        "Drift signalled on amount",
    ]
    assert R.describe_reasons([R.QA_SAMPLE, R.NO_ACTIVE_POLICY], {}) == [
        R.REASON_LABELS[R.QA_SAMPLE],
        R.REASON_LABELS[R.NO_ACTIVE_POLICY],
    ]
    assert R.describe_reasons(["future_code"], {}) == ["future_code"]
    assert set(R.REASON_LABELS) == {
        R.LOW_CONFIDENCE,
        R.OOD_ABOVE_LIMIT,
        R.DRIFT_SIGNALLED,
        R.QA_SAMPLE,
        R.NO_ACTIVE_POLICY,
        R.MODEL_CONTAINED,
        R.MODEL_HALTED,
        R.DATA_ANOMALY,
        R.INCONSISTENT_OUTPUT,
    }


# --- canonical JSON and hash ----------------------------------------------------------------
def test_canonical_json_sorts_keys_and_is_compact():
    text = R.canonical_json({"b": 1, "a": {"d": [1, 2], "c": "é"}})
    assert text == '{"a":{"c":"é","d":[1,2]},"b":1}'


def test_rules_hash_is_sha256_of_canonical_json_and_ignores_key_order():
    reordered = json.loads(json.dumps(dict(reversed(list(RULES.items())))))
    assert R.rules_hash(reordered) == R.rules_hash(RULES)
    expected = hashlib.sha256(R.canonical_json(RULES).encode()).hexdigest()
    assert R.rules_hash(RULES) == expected
    assert R.rules_hash(rules(qa_sample_rate=0.01)) != R.rules_hash(RULES)
    # The fallback and the SLA minutes are part of what is hashed.
    assert R.rules_hash(rules(fallback={"label": "legit"})) != R.rules_hash(RULES)
    changed_sla = rules(sla_minutes={**RULES["sla_minutes"], "low": 1})
    assert R.rules_hash(changed_sla) != R.rules_hash(RULES)


# --- validation -----------------------------------------------------------------------------
def test_valid_rules_have_no_errors():
    assert R.validate_rules(RULES, labels=["fraud", "legit"]) == {}


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"min_confidence": "0.7"}, "min_confidence"),
        ({"min_confidence": True}, "min_confidence"),
        ({"min_confidence": math.nan}, "min_confidence"),
        ({"min_confidence_by_label": []}, "min_confidence_by_label"),
        ({"min_confidence_by_label": {"fraud": 2}}, "min_confidence_by_label.fraud"),
        ({"min_confidence_by_label": {"maybe": 0.5}}, "min_confidence_by_label.maybe"),
        ({"max_ood_score": -1}, "max_ood_score"),
        ({"max_ood_score": "high"}, "max_ood_score"),
        ({"route_on_drift": "yes"}, "route_on_drift"),
        ({"qa_sample_rate": 1.01}, "qa_sample_rate"),
        ({"qa_sample_rate": None}, "qa_sample_rate"),
        ({"sla_minutes": 15}, "sla_minutes"),
        ({"sla_minutes": {**RULES["sla_minutes"], "low": 0}}, "sla_minutes.low"),
        ({"sla_minutes": {**RULES["sla_minutes"], "low": 1.5}}, "sla_minutes.low"),
        ({"sla_minutes": {**RULES["sla_minutes"], "urgent": 5}}, "sla_minutes.urgent"),
        ({"fallback": {}}, "fallback"),
        ({"fallback": "hold"}, "fallback"),
        ({"fallback": {"score": math.inf}}, "fallback.score"),
        ({"threshold": 0.5}, "threshold"),
    ],
)
def test_each_bad_rule_is_named_by_path(patch, path):
    errors = R.validate_rules(rules(**patch), labels=["fraud", "legit"])
    assert path in errors, errors


def test_missing_required_rules_are_named():
    errors = R.validate_rules({})
    assert {"min_confidence", "sla_minutes", "fallback"} <= set(errors)
    assert R.validate_rules([1]) == {"rules": ["Must be a JSON object."]}
    missing_tier = {k: v for k, v in RULES["sla_minutes"].items() if k != "medium"}
    assert "sla_minutes.medium" in R.validate_rules(rules(sla_minutes=missing_tier))


# --- a label its own scores contradict (inconsistent_output) --------------------------------
@pytest.mark.parametrize(
    ("label", "scores", "summary", "inconsistent"),
    [
        ("fraud", {"fraud": 0.45, "legit": 0.55}, {"legit": 0.55, "fraud": 0.45}, True),
        ("fraud", {"fraud": 0.5, "legit": 0.5}, {"fraud": 0.5, "legit": 0.5}, False),  # a tie
        ("legit", {"fraud": 0.45, "legit": 0.55}, {"legit": 0.55}, False),
        ("fraud", {"legit": 0.9}, {"legit": 0.9}, True),  # the label has no score
        ("a", {"a": 0.2, "b": 0.7, "c": 0.7, "d": 0.1}, {"a": 0.2, "b": 0.7, "c": 0.7}, True),
        ("fraud", {"fraud": 1, "legit": 0}, {"fraud": 1.0}, False),
        ("fraud", {}, None, False),  # no scores: nothing to check
        ("fraud", None, None, False),
    ],
)
def test_top_scores_keeps_the_top_and_the_label(label, scores, summary, inconsistent):
    assert R.top_scores(label, scores) == summary
    assert R.output_inconsistent(label, summary) is inconsistent


def test_an_inconsistent_output_routes_whatever_the_policy_says():
    summary = {"legit": 0.9, "fraud": 0.1}
    confident = facts(label="fraud", confidence=0.95, top_scores=summary)
    decision = decide(rules(), confident)
    assert decision.routed and decision.reasons == [R.INCONSISTENT_OUTPUT]
    assert decision.details["inconsistent_output"] == {"label": "fraud", "top_scores": summary}
    # The tier's priority and SLA, the policy's fallback, as for any item the policy passed.
    assert (decision.priority, decision.sla_minutes) == (R.TIER_PRIORITY["high"], 60)
    assert decision.fallback == RULES["fallback"]
    # With no policy too, beside no_active_policy; a contained model names containment first.
    assert decide(None, confident).reasons == [R.NO_ACTIVE_POLICY, R.INCONSISTENT_OUTPUT]
    contained = facts(label="fraud", confidence=0.95, top_scores=summary, mode=R.CONTAINED)
    assert decide(rules(), contained).reasons == [R.MODEL_CONTAINED, R.INCONSISTENT_OUTPUT]
    # A halted model routes nothing; the check is kept among the policy's reasons.
    halted = decide(rules(), facts(label="fraud", top_scores=summary, mode=R.HALTED))
    assert not halted.routed and halted.details["policy_reasons"] == [R.INCONSISTENT_OUTPUT]
    # The confidence is the producer's own: the check never reads it.
    assert decide(rules(), facts(label="fraud", confidence=0.95)).routed is False


def test_a_qa_sample_becomes_a_review_for_the_better_reason():
    sampled = rules(qa_sample_rate=1.0)
    summary = {"legit": 0.9}
    decision = decide(sampled, facts(label="fraud", confidence=0.95, top_scores=summary))
    assert decision.reasons == [R.INCONSISTENT_OUTPUT]


def test_the_inconsistency_in_words():
    say = R.describe_reasons
    found = {"label": "fraud", "top_scores": {"legit": 0.55, "fraud": 0.45}}
    assert say([R.INCONSISTENT_OUTPUT], {"inconsistent_output": found}) == [
        "The model's label is fraud, but its scores rank legit highest (legit 0.55 · fraud 0.45)"
    ]
    missing = {"label": "fraud", "top_scores": {"legit": 0.9}}
    assert say([R.INCONSISTENT_OUTPUT], {"inconsistent_output": missing}) == [
        "The model's label is fraud, but its scores rank legit highest (legit 0.90; no score for fraud)"
    ]
    tied = {"label": "a", "top_scores": {"c": 0.4, "b": 0.4, "a": 0.2}}
    assert say([R.INCONSISTENT_OUTPUT], {"inconsistent_output": tied}) == [
        "The model's label is a, but its scores rank b and c highest (b 0.40 · c 0.40 · a 0.20)"
    ]
    # Without the details (an older record): the reason's name.
    assert say([R.INCONSISTENT_OUTPUT], {}) == ["Label disagrees with the model's own scores"]
    # In a segment the sentence names it, as every reason does.
    assert say([R.INCONSISTENT_OUTPUT], {"inconsistent_output": found, "segment": "big"}) == [
        "Segment big: the model's label is fraud, but its scores rank legit highest "
        "(legit 0.55 · fraud 0.45)"
    ]


def test_facts_records_keep_the_summary_and_old_records_have_none():
    one = facts(label="fraud", top_scores={"legit": 0.9, "fraud": 0.1})
    record = R.facts_record(one)
    assert record["top_scores"] == {"legit": 0.9, "fraud": 0.1}
    assert R.facts_from_record(record) == one
    del record["top_scores"]
    assert R.facts_from_record(record).top_scores == {}

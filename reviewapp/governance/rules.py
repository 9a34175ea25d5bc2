"""Routing rules (v1 and v2): pure functions, rules in, decision out.

Live ingestion and impact replay both call :func:`decide`, so the same traffic under the same
policy version always routes the same way. Exact semantics are documented in docs/policies.md.
Nothing here touches the database or imports an app.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .anomalies import describe_anomaly_reason
from .conditions import (
    check_condition,
    condition_holds,
    is_number,
)

TIERS = ("critical", "high", "medium", "low")

LOW_CONFIDENCE = "low_confidence"
OOD_ABOVE_LIMIT = "ood_above_limit"
DRIFT_SIGNALLED = "drift_signalled"
QA_SAMPLE = "qa_sample"
NO_ACTIVE_POLICY = "no_active_policy"
# Operating modes (reviewapp/failsafe): a contained model's every prediction is reviewed; a
# halted model's output is not used (the producer serves the fallback).
MODEL_CONTAINED = "model_contained"
MODEL_HALTED = "model_halted"
# The data-quality check found the input unlike the model's recent traffic.
DATA_ANOMALY = "data_anomaly"
# The output's label is not the arg-max of the scores it sent with it (ties count as agreeing).
INCONSISTENT_OUTPUT = "inconsistent_output"

NORMAL, CONTAINED, HALTED = "normal", "contained", "halted"
MODES = (NORMAL, CONTAINED, HALTED)

REASON_LABELS = {
    LOW_CONFIDENCE: "Confidence below threshold",
    OOD_ABOVE_LIMIT: "Out-of-distribution score above limit",
    DRIFT_SIGNALLED: "Drift signalled on input features",
    QA_SAMPLE: "Random quality sample of a confident prediction",
    NO_ACTIVE_POLICY: "No active policy: everything is reviewed",
    MODEL_CONTAINED: "Model contained: every prediction is reviewed",
    MODEL_HALTED: "Model halted: its output is not used, the fallback is served",
    DATA_ANOMALY: "Input unlike the model's recent traffic",
    INCONSISTENT_OUTPUT: "Label disagrees with the model's own scores",
}

# Priority: 0 (least urgent) to 100. The tier sets the base; how far below the threshold the
# confidence fell, and any OOD or drift signal, raise it.
TIER_PRIORITY = {"critical": 70, "high": 50, "medium": 30, "low": 10}
# SLA when a model has no active policy: the fail-safe path should not wait long.
NO_POLICY_SLA_MINUTES = {"critical": 30, "high": 60, "medium": 240, "low": 480}
NO_POLICY_FALLBACK: dict[str, Any] = {"action": "hold", "reason": NO_ACTIVE_POLICY}
FAR_BELOW_MARGIN = 0.2
# At most a year: a deadline past what a datetime holds would stop routing (OverflowError).
MAX_SLA_MINUTES = 365 * 24 * 60


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rules_hash(rules: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(rules).encode()).hexdigest()


# --- rules v2: segments, escalation, tolerated error rate -------------------------------------
SCHEMAS = (1, 2)
SEGMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
MAX_SEGMENTS = 50
MAX_CONDITIONS = 20
SEGMENT_KEYS = {
    "name",
    "conditions",
    "min_confidence",
    "min_confidence_by_label",
    "qa_sample_rate",
    "tier",
}
ESCALATION_DEFAULTS: dict[str, int] = {
    # Today's constants: the third deferral escalates to a lead; ten minutes before its SLA
    # deadline an open item gains 20 points of priority (once). The SLA pair's live defaults
    # are the REVIEW_SLA_NEAR_SECONDS / REVIEW_SLA_PRIORITY_BUMP settings (same values).
    "deferrals_before_escalation": 3,
    "sla_near_priority_bump": 20,
    "sla_near_minutes": 10,
}
_ESCALATION_LIMITS = {
    "deferrals_before_escalation": (1, 100),
    "sla_near_priority_bump": (0, 100),
    "sla_near_minutes": (0, 10080),
}
V1_KEYS = {
    "schema",
    "route_on_data_anomaly",
    "min_confidence",
    "min_confidence_by_label",
    "max_ood_score",
    "route_on_drift",
    "qa_sample_rate",
    "sla_minutes",
    "fallback",
    "max_auto_error_rate",
    "escalation",
}
V2_KEYS = V1_KEYS | {"segments"}


def schema_of(rules: Mapping[str, Any]) -> int:
    """1 for rules without ``schema`` (every policy written before v2), else its value."""
    return rules.get("schema", 1)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_rules(rules: Any, *, labels: list[str] | None = None) -> dict[str, list[str]]:
    """Every problem by field path; an empty dict means the rules are usable.

    Paths name list positions too (``segments[1].conditions[0].op``), so a form or an API
    client can point at the exact spot.
    """
    errors: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    if not isinstance(rules, dict):
        return {"rules": ["Must be a JSON object."]}
    schema = rules.get("schema", 1)
    if not _is_whole(schema) or schema not in SCHEMAS:
        add("schema", "Must be 1 or 2 (absent means 1).")
        schema = None  # check the rest loosely: no spurious "Unknown rule." or "Required."
    known = V1_KEYS if schema == 1 else V2_KEYS
    for key in sorted(set(rules) - known):
        add(key, "Unknown rule." if key != "segments" else 'Segments need "schema": 2.')
    mc = rules.get("min_confidence")
    if not is_number(mc) or not 0 <= mc <= 1:
        add("min_confidence", "Required: a number from 0 to 1.")
    _check_by_label(
        rules.get("min_confidence_by_label", {}), "min_confidence_by_label", labels, add
    )
    ood = rules.get("max_ood_score")
    if ood is not None and (not is_number(ood) or ood < 0):
        add("max_ood_score", "Must be a non-negative number, or null to ignore OOD scores.")
    if not isinstance(rules.get("route_on_drift", True), bool):
        add("route_on_drift", "Must be true or false.")
    if not isinstance(rules.get("route_on_data_anomaly", True), bool):
        add("route_on_data_anomaly", "Must be true or false.")
    qa = rules.get("qa_sample_rate", 0)
    if not is_number(qa) or not 0 <= qa <= 1:
        add("qa_sample_rate", "Must be a number from 0 to 1.")
    sla = rules.get("sla_minutes")
    if not isinstance(sla, dict):
        add("sla_minutes", f"Required: minutes to decide, for each tier ({', '.join(TIERS)}).")
    else:
        for tier in TIERS:
            value = sla.get(tier)
            if not _is_whole(value) or not 1 <= value <= MAX_SLA_MINUTES:
                add(
                    f"sla_minutes.{tier}",
                    f"Required: a whole number of minutes from 1 to {MAX_SLA_MINUTES} (a year).",
                )
        for tier in sorted(set(sla) - set(TIERS)):
            add(f"sla_minutes.{tier}", "Unknown tier.")
    if not isinstance(rules.get("fallback"), dict) or not rules.get("fallback"):
        add("fallback", "Required: the safe output the producer uses while a human decides.")
    error_rate = rules.get("max_auto_error_rate")
    if schema == 2 and error_rate is None:
        add("max_auto_error_rate", "Required in schema 2: a number from 0 to 1, e.g. 0.02.")
    elif error_rate is not None and (not is_number(error_rate) or not 0 <= error_rate <= 1):
        add("max_auto_error_rate", "Must be a number from 0 to 1, or null (not set).")
    if "escalation" in rules:
        _check_escalation(rules["escalation"], add)
    if schema != 1 and "segments" in rules:
        _check_segments(rules["segments"], labels, add)
    for path in _non_finite_paths(rules):
        add(path, "Must be a finite number (NaN and Infinity cannot be hashed or stored).")
    return errors


def _check_by_label(by_label: Any, path: str, labels: list[str] | None, add) -> None:
    if not isinstance(by_label, dict):
        add(path, "Must be an object of label: threshold.")
        return
    for label, value in by_label.items():
        if not is_number(value) or not 0 <= value <= 1:
            add(f"{path}.{label}", "Must be a number from 0 to 1.")
        if labels is not None and label not in labels:
            add(f"{path}.{label}", "Not one of the model's labels.")


def _check_escalation(escalation: Any, add) -> None:
    if not isinstance(escalation, dict):
        add("escalation", "Must be an object (" + ", ".join(ESCALATION_DEFAULTS) + ").")
        return
    for key in sorted(set(escalation) - set(ESCALATION_DEFAULTS)):
        add(f"escalation.{key}", "Unknown rule.")
    for key, (low, high) in _ESCALATION_LIMITS.items():
        if key in escalation:
            value = escalation[key]
            if not _is_whole(value) or not low <= value <= high:
                add(f"escalation.{key}", f"Must be a whole number from {low} to {high}.")


def _check_segments(segments: Any, labels: list[str] | None, add) -> None:
    if not isinstance(segments, list):
        add("segments", "Must be a list of segments, checked in order.")
        return
    if len(segments) > MAX_SEGMENTS:
        add("segments", f"At most {MAX_SEGMENTS} segments.")
    seen: set[str] = set()
    for i, segment in enumerate(segments):
        at = f"segments[{i}]"
        if not isinstance(segment, dict):
            add(at, "Must be an object with a name and conditions.")
            continue
        for key in sorted(set(segment) - SEGMENT_KEYS):
            add(f"{at}.{key}", "Unknown rule.")
        name = segment.get("name")
        if not isinstance(name, str) or not SEGMENT_NAME.match(name):
            add(f"{at}.name", "Required: lowercase letters, digits, - or _ (at most 50).")
        elif name in seen:
            add(f"{at}.name", "Another segment has this name.")
        else:
            seen.add(name)
        mc = segment.get("min_confidence", 0)
        if not is_number(mc) or not 0 <= mc <= 1:
            add(f"{at}.min_confidence", "Must be a number from 0 to 1.")
        if "min_confidence_by_label" in segment:
            _check_by_label(
                segment["min_confidence_by_label"], f"{at}.min_confidence_by_label", labels, add
            )
        qa = segment.get("qa_sample_rate", 0)
        if not is_number(qa) or not 0 <= qa <= 1:
            add(f"{at}.qa_sample_rate", "Must be a number from 0 to 1.")
        if "tier" in segment and segment["tier"] not in TIERS:
            add(f"{at}.tier", f"Must be one of {', '.join(TIERS)}.")
        conditions = segment.get("conditions")
        if not isinstance(conditions, list) or not conditions:
            add(f"{at}.conditions", "Required: a non-empty list of conditions (all must hold).")
            continue
        if len(conditions) > MAX_CONDITIONS:
            add(f"{at}.conditions", f"At most {MAX_CONDITIONS} conditions.")
        for j, condition in enumerate(conditions):
            check_condition(condition, f"{at}.conditions[{j}]", add)


def _non_finite_paths(value: Any, path: str = "") -> list[str]:
    """Paths of NaN / Infinity anywhere in the rules (the fallback included): canonical JSON
    has no spelling for them and PostgreSQL's jsonb refuses them."""
    if isinstance(value, float) and not math.isfinite(value):
        return [path]
    if isinstance(value, dict):
        return [
            p
            for key, item in value.items()
            for p in _non_finite_paths(item, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _non_finite_paths(item, f"{path}[{i}]")]
    return []


@dataclass(frozen=True)
class PredictionFacts:
    model_slug: str
    external_id: str
    label: str
    confidence: float
    criticality: str
    ood_score: float | None = None
    drift_features: tuple[str, ...] = ()
    # Values of the input/output paths the policy's segments read ("input.amount": 12000); a
    # path absent from the envelope is absent here.
    fields: Mapping[str, Any] = field(default_factory=dict)
    # The model's operating mode at routing, and for a halted model the share sampled for
    # review (``mode_sample``).
    mode: str = NORMAL
    mode_sample_rate: float = 0.0
    # What the data-quality check found (reviewapp/failsafe/profiles.py), each a JSON object
    # with at least "field" and "kind"; routing stores them, so replay needs no profile.
    anomalies: tuple[Mapping[str, Any], ...] = ()
    # The output's scores as ingest summarised them (:func:`top_scores`): the highest-scoring
    # label(s) and the label's own score. Empty when the producer sent no scores (no check).
    top_scores: Mapping[str, float] = field(default_factory=dict)


def top_scores(label: str, scores: Mapping[str, Any] | None) -> dict[str, float] | None:
    """What routing needs of ``output.scores``, computed once per prediction at ingest: every
    label whose score is the highest (ties all kept) and the predicted label's own score if it
    has one. None when no scores were sent (an empty object included): nothing to check.

    ``scores`` must hold finite numbers only (the envelope validator's job)."""
    if not scores:
        return None
    best = max(scores.values())
    summary = {key: float(value) for key, value in scores.items() if value == best}
    if label in scores:
        summary[label] = float(scores[label])
    return summary


def output_inconsistent(label: str, summary: Mapping[str, float] | None) -> bool:
    """True when the label is not the arg-max of the scores (:func:`top_scores`'s summary): its
    score is below the highest, or it has none. A tie for the highest agrees."""
    if not summary:
        return False
    own = summary.get(label)
    return own is None or own < max(summary.values())


def describe_inconsistency(label: str, summary: Mapping[str, float]) -> str:
    """ "The model's label is fraud, but its scores rank legit highest (legit 0.55 · fraud 0.45)"."""
    own = summary.get(label)
    best = max(summary.values())
    top = sorted(key for key, value in summary.items() if value == best and key != label)
    shown = " · ".join(f"{key} {summary[key]:.2f}" for key in top)
    shown += f" · {label} {own:.2f}" if own is not None else f"; no score for {label}"
    return (
        f"The model's label is {label}, but its scores rank {' and '.join(top)} highest ({shown})"
    )


@dataclass(frozen=True)
class RoutingDecision:
    routed: bool
    reasons: list[str]
    threshold: float | None
    margin: float | None
    priority: int
    sla_minutes: int | None
    fallback: dict[str, Any] | None
    details: dict[str, Any] = field(default_factory=dict)
    # Halted model: the prediction is not routed (status ``fallback``) and ``mode_sample`` says
    # whether it falls in the share queued for review anyway.
    halted: bool = False
    mode_sample: bool = False


def qa_bucket(model_slug: str, external_id: str) -> float:
    """A number in [0, 1) fixed by (model, external_id): the same item always samples alike."""
    digest = hashlib.sha256(f"{model_slug}\x1f{external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def threshold_for(
    rules: dict[str, Any], label: str, segment: Mapping[str, Any] | None = None
) -> float:
    """The segment's threshold for the label, else its own, else the policy's (v1 rule)."""
    if segment is not None:
        by_label = segment.get("min_confidence_by_label", {})
        if label in by_label:
            return float(by_label[label])
        if "min_confidence" in segment:
            return float(segment["min_confidence"])
    return float(rules.get("min_confidence_by_label", {}).get(label, rules["min_confidence"]))


def referenced_paths(rules: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Every input/output path a segment of the policy reads, sorted: what routing stores."""
    if not rules or schema_of(rules) != 2:
        return ()
    return tuple(
        sorted(
            {
                condition["field"]
                for segment in rules.get("segments", ())
                for condition in segment["conditions"]
            }
        )
    )


def segment_for(rules: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first segment whose conditions all hold (segments are checked in order)."""
    if schema_of(rules) != 2:
        return None
    for segment in rules.get("segments", ()):
        if all(condition_holds(c, fields) for c in segment["conditions"]):
            return segment
    return None


@dataclass(frozen=True)
class Escalation:
    deferrals_before_escalation: int
    sla_near_priority_bump: int
    sla_near_seconds: int


DEFAULT_ESCALATION = Escalation(
    deferrals_before_escalation=ESCALATION_DEFAULTS["deferrals_before_escalation"],
    sla_near_priority_bump=ESCALATION_DEFAULTS["sla_near_priority_bump"],
    sla_near_seconds=ESCALATION_DEFAULTS["sla_near_minutes"] * 60,
)


def escalation_of(
    rules: Mapping[str, Any] | None, defaults: Escalation = DEFAULT_ESCALATION
) -> Escalation:
    """The policy's escalation rules, each one it does not set taken from ``defaults``."""
    given = (rules or {}).get("escalation") or {}
    near = given.get("sla_near_minutes")
    return Escalation(
        deferrals_before_escalation=int(
            given.get("deferrals_before_escalation", defaults.deferrals_before_escalation)
        ),
        sla_near_priority_bump=int(
            given.get("sla_near_priority_bump", defaults.sla_near_priority_bump)
        ),
        sla_near_seconds=defaults.sla_near_seconds if near is None else int(near) * 60,
    )


def facts_record(facts: PredictionFacts) -> dict[str, Any]:
    """What routing stores with its decision: everything :func:`decide` reads, as JSON."""
    return {
        "model_slug": facts.model_slug,
        "external_id": facts.external_id,
        "label": facts.label,
        "confidence": facts.confidence,
        "criticality": facts.criticality,
        "ood_score": facts.ood_score,
        "drift_features": list(facts.drift_features),
        "fields": dict(facts.fields),
        "mode": facts.mode,
        "mode_sample_rate": facts.mode_sample_rate,
        "anomalies": [dict(a) for a in facts.anomalies],
        "top_scores": dict(facts.top_scores),
    }


def facts_from_record(record: Mapping[str, Any]) -> PredictionFacts:
    return PredictionFacts(
        model_slug=record["model_slug"],
        external_id=record["external_id"],
        label=record["label"],
        confidence=record["confidence"],
        criticality=record["criticality"],
        ood_score=record["ood_score"],
        drift_features=tuple(record["drift_features"]),
        fields=dict(record["fields"]),
        # Records written before modes and data-quality checks existed: normal, none found.
        mode=record.get("mode", NORMAL),
        mode_sample_rate=record.get("mode_sample_rate", 0.0),
        anomalies=tuple(record.get("anomalies", ())),
        # Records written before the label/score check: no scores summarised, no check.
        top_scores=dict(record.get("top_scores") or {}),
    )


def halted_decision(
    rules: Mapping[str, Any] | None, facts: PredictionFacts, routed: RoutingDecision
) -> RoutingDecision:
    """A halted model's decision: not routed, the fallback served, reason ``model_halted``;
    ``routed`` is what the policy would have decided, kept in the details for the record. A
    deterministic share (``qa_bucket`` against the mode's sample rate) is sampled for review."""
    fallback = dict(rules["fallback"]) if rules else dict(NO_POLICY_FALLBACK)
    sample = (
        facts.mode_sample_rate > 0
        and qa_bucket(facts.model_slug, facts.external_id) < facts.mode_sample_rate
    )
    details = dict(routed.details)
    details["policy_reasons"] = list(routed.reasons)
    priority, sla = routed.priority, routed.sla_minutes
    if sample and sla is None:
        # A prediction the policy would have passed has no deadline of its own; its sample
        # item takes the tier's, as a routed item would (a sample without one broke routing).
        priority, sla = _tier_priority_sla(rules, facts, routed)
    return RoutingDecision(
        routed=False,
        reasons=[MODEL_HALTED],
        threshold=routed.threshold,
        margin=routed.margin,
        priority=priority,
        sla_minutes=sla,
        fallback=fallback,
        details=details,
        halted=True,
        mode_sample=sample,
    )


def apply_mode(
    rules: Mapping[str, Any] | None, facts: PredictionFacts, decision: RoutingDecision
) -> RoutingDecision:
    """The policy's decision adjusted for the output's consistency, the data-quality findings
    and the operating mode.

    One definition for :func:`decide` and the compiled policy (live routing, replay and
    evidence): a label its own scores contradict routes with ``inconsistent_output`` (whatever
    the policy says: the producer's confidence cannot vouch for such an output); anomalies
    route with ``data_anomaly`` unless the policy sets ``route_on_data_anomaly`` false; a
    contained model routes everything (``model_contained`` first); a halted model routes
    nothing (:func:`halted_decision`).
    """
    if output_inconsistent(facts.label, facts.top_scores):
        decision = _routed_with(rules, facts, decision, INCONSISTENT_OUTPUT)
        decision.details["inconsistent_output"] = {
            "label": facts.label,
            "top_scores": dict(facts.top_scores),
        }
    if facts.anomalies and (rules is None or rules.get("route_on_data_anomaly", True)):
        if DATA_ANOMALY not in decision.reasons:
            decision = _routed_with(rules, facts, decision, DATA_ANOMALY)
        decision.details.setdefault("anomalies", [dict(a) for a in facts.anomalies])
    if facts.mode == CONTAINED:
        return _routed_with(rules, facts, decision, MODEL_CONTAINED, first=True)
    if facts.mode == HALTED:
        return halted_decision(rules, facts, decision)
    return decision


def _tier_priority_sla(
    rules: Mapping[str, Any] | None, facts: PredictionFacts, decision: RoutingDecision
) -> tuple[int, int]:
    """Priority and SLA minutes of the prediction's tier (its segment's, else the model's
    criticality), for an item the policy itself would not have routed."""
    tier = facts.criticality if facts.criticality in TIER_PRIORITY else "high"
    tier = decision.details.get("tier", tier)
    base = TIER_PRIORITY.get(tier, TIER_PRIORITY["high"])
    if rules is None:
        return min(100, base + 20), NO_POLICY_SLA_MINUTES.get(tier, 60)
    return base, int(rules["sla_minutes"][tier])


def _routed_with(
    rules: Mapping[str, Any] | None,
    facts: PredictionFacts,
    decision: RoutingDecision,
    reason: str,
    *,
    first: bool = False,
) -> RoutingDecision:
    """``decision`` routed to review with ``reason`` added (a QA-sample-only decision loses
    its QA reason: it is now reviewed for a better one)."""
    reasons = [r for r in decision.reasons if r != QA_SAMPLE]
    reasons = [reason, *reasons] if first else [*reasons, reason]
    if decision.routed and decision.reasons != [QA_SAMPLE]:
        priority, sla = decision.priority, decision.sla_minutes
    else:
        priority, sla = _tier_priority_sla(rules, facts, decision)
    fallback = dict(rules["fallback"]) if rules else dict(NO_POLICY_FALLBACK)
    return RoutingDecision(
        routed=True,
        reasons=reasons,
        threshold=decision.threshold,
        margin=decision.margin,
        priority=priority,
        sla_minutes=sla,
        fallback=fallback,
        details=dict(decision.details),
    )


def decide(rules: dict[str, Any] | None, facts: PredictionFacts) -> RoutingDecision:
    """The routing decision for one prediction: the policy's thresholds and signals, then the
    data-quality findings and the operating mode (:func:`apply_mode`)."""
    return apply_mode(rules, facts, _policy_decision(rules, facts))


def _policy_decision(rules: dict[str, Any] | None, facts: PredictionFacts) -> RoutingDecision:
    tier = facts.criticality if facts.criticality in TIER_PRIORITY else "high"
    if rules is None:
        base = TIER_PRIORITY[tier]
        return RoutingDecision(
            routed=True,
            reasons=[NO_ACTIVE_POLICY],
            threshold=None,
            margin=None,
            priority=min(100, base + 20),
            sla_minutes=NO_POLICY_SLA_MINUTES[tier],
            fallback=dict(NO_POLICY_FALLBACK),
        )

    segment = segment_for(rules, facts.fields)
    if segment is not None and "tier" in segment:
        tier = segment["tier"]
    base = TIER_PRIORITY[tier]
    threshold = threshold_for(rules, facts.label, segment)
    margin = round(facts.confidence - threshold, 6)
    reasons: list[str] = []
    details: dict[str, Any] = {"threshold": threshold, "confidence": facts.confidence}
    if segment is not None:
        details["segment"] = segment["name"]
    if facts.confidence < threshold:
        reasons.append(LOW_CONFIDENCE)
    max_ood = rules.get("max_ood_score")
    if max_ood is not None and facts.ood_score is not None and facts.ood_score > max_ood:
        reasons.append(OOD_ABOVE_LIMIT)
        details["ood_score"] = facts.ood_score
        details["max_ood_score"] = max_ood
    if rules.get("route_on_drift", True) and facts.drift_features:
        reasons.append(DRIFT_SIGNALLED)
        details["drift_features"] = list(facts.drift_features)
    if not reasons:
        source = segment if segment is not None and "qa_sample_rate" in segment else rules
        rate = float(source.get("qa_sample_rate", 0))
        if rate > 0 and qa_bucket(facts.model_slug, facts.external_id) < rate:
            reasons.append(QA_SAMPLE)

    if not reasons:
        return RoutingDecision(False, [], threshold, margin, 0, None, None, details)

    priority, sla = priority_and_sla(
        base=base, sla_minutes=rules["sla_minutes"][tier], reasons=reasons, margin=margin
    )
    return RoutingDecision(
        routed=True,
        reasons=reasons,
        threshold=threshold,
        margin=margin,
        priority=priority,
        sla_minutes=sla,
        fallback=dict(rules["fallback"]),
        details=details,
    )


def priority_and_sla(
    *, base: int, sla_minutes: Any, reasons: list[str], margin: float
) -> tuple[int, int]:
    """A routed prediction's priority (0-100) and SLA minutes, from its tier's base priority
    and SLA, its reasons and its margin below the threshold. One definition for ``decide`` and
    the compiled policy."""
    sla = int(sla_minutes)
    if reasons == [QA_SAMPLE]:
        return max(0, base - 10), sla
    priority = base
    if LOW_CONFIDENCE in reasons:
        priority += min(20, round(-margin * 100))
    if OOD_ABOVE_LIMIT in reasons or DRIFT_SIGNALLED in reasons:
        priority += 10
    if margin <= -FAR_BELOW_MARGIN:
        sla = max(1, math.ceil(sla / 2))
    return min(100, priority), sla


def describe_reasons(reasons: list[str], details: dict[str, Any]) -> list[str]:
    """Plain sentences a reviewer reads in three seconds.

    In a segment each sentence names it: "Segment high-value: confidence 0.91 below 0.95".
    """
    out = []
    segment = details.get("segment")
    for code in reasons:
        if code == LOW_CONFIDENCE and "threshold" in details:
            out.append(
                f"Confidence {details['confidence']:.2f} below threshold {details['threshold']:.2f}"
            )
        elif code == OOD_ABOVE_LIMIT and "ood_score" in details:
            out.append(f"OOD score {details['ood_score']:.2f} above {details['max_ood_score']:.2f}")
        elif code == DRIFT_SIGNALLED and details.get("drift_features"):
            out.append("Drift signalled on " + ", ".join(details["drift_features"]))
        elif code == DATA_ANOMALY and details.get("anomalies"):
            out.append(describe_anomaly_reason(details["anomalies"]))
        elif code == INCONSISTENT_OUTPUT and details.get("inconsistent_output"):
            found = details["inconsistent_output"]
            out.append(describe_inconsistency(found["label"], found["top_scores"]))
        else:
            out.append(REASON_LABELS.get(code, code))
    if segment:
        if LOW_CONFIDENCE in reasons and "threshold" in details:
            out[reasons.index(LOW_CONFIDENCE)] = (
                f"confidence {details['confidence']:.2f} below {details['threshold']:.2f}"
            )
        out = [f"Segment {segment}: {line[:1].lower()}{line[1:]}" for line in out]
    return out

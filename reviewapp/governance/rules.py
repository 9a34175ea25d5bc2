"""Routing rules v1: pure functions, rules in, decision out.

Live ingestion and impact replay both call :func:`decide`, so the same traffic under the same
policy version always routes the same way. Exact semantics are documented in docs/policies.md.
Nothing here touches the database or imports an app.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

TIERS = ("critical", "high", "medium", "low")

LOW_CONFIDENCE = "low_confidence"
OOD_ABOVE_LIMIT = "ood_above_limit"
DRIFT_SIGNALLED = "drift_signalled"
QA_SAMPLE = "qa_sample"
NO_ACTIVE_POLICY = "no_active_policy"

REASON_LABELS = {
    LOW_CONFIDENCE: "Confidence below threshold",
    OOD_ABOVE_LIMIT: "Out-of-distribution score above limit",
    DRIFT_SIGNALLED: "Drift signalled on input features",
    QA_SAMPLE: "Random quality sample of a confident prediction",
    NO_ACTIVE_POLICY: "No active policy: everything is reviewed",
}

# Priority: 0 (least urgent) to 100. The tier sets the base; how far below the threshold the
# confidence fell, and any OOD or drift signal, raise it.
TIER_PRIORITY = {"critical": 70, "high": 50, "medium": 30, "low": 10}
# SLA when a model has no active policy: the fail-safe path should not wait long.
NO_POLICY_SLA_MINUTES = {"critical": 30, "high": 60, "medium": 240, "low": 480}
NO_POLICY_FALLBACK: dict[str, Any] = {"action": "hold", "reason": NO_ACTIVE_POLICY}
FAR_BELOW_MARGIN = 0.2


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rules_hash(rules: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(rules).encode()).hexdigest()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_rules(rules: Any, *, labels: list[str] | None = None) -> dict[str, list[str]]:
    """Every problem by field path; an empty dict means the rules are usable."""
    errors: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    if not isinstance(rules, dict):
        return {"rules": ["Must be a JSON object."]}
    known = {
        "min_confidence",
        "min_confidence_by_label",
        "max_ood_score",
        "route_on_drift",
        "qa_sample_rate",
        "sla_minutes",
        "fallback",
    }
    for key in sorted(set(rules) - known):
        add(key, "Unknown rule.")
    mc = rules.get("min_confidence")
    if not _is_number(mc) or not 0 <= mc <= 1:
        add("min_confidence", "Required: a number from 0 to 1.")
    by_label = rules.get("min_confidence_by_label", {})
    if not isinstance(by_label, dict):
        add("min_confidence_by_label", "Must be an object of label: threshold.")
    else:
        for label, value in by_label.items():
            if not _is_number(value) or not 0 <= value <= 1:
                add(f"min_confidence_by_label.{label}", "Must be a number from 0 to 1.")
            if labels is not None and label not in labels:
                add(f"min_confidence_by_label.{label}", "Not one of the model's labels.")
    ood = rules.get("max_ood_score")
    if ood is not None and (not _is_number(ood) or ood < 0):
        add("max_ood_score", "Must be a non-negative number, or null to ignore OOD scores.")
    if not isinstance(rules.get("route_on_drift", True), bool):
        add("route_on_drift", "Must be true or false.")
    qa = rules.get("qa_sample_rate", 0)
    if not _is_number(qa) or not 0 <= qa <= 1:
        add("qa_sample_rate", "Must be a number from 0 to 1.")
    sla = rules.get("sla_minutes")
    if not isinstance(sla, dict):
        add("sla_minutes", f"Required: minutes to decide, for each tier ({', '.join(TIERS)}).")
    else:
        for tier in TIERS:
            value = sla.get(tier)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                add(f"sla_minutes.{tier}", "Required: a whole number of minutes, at least 1.")
        for tier in sorted(set(sla) - set(TIERS)):
            add(f"sla_minutes.{tier}", "Unknown tier.")
    if not isinstance(rules.get("fallback"), dict) or not rules.get("fallback"):
        add("fallback", "Required: the safe output the producer uses while a human decides.")
    for path in _non_finite_paths(rules):
        add(path, "Must be a finite number (NaN and Infinity cannot be hashed or stored).")
    return errors


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


def qa_bucket(model_slug: str, external_id: str) -> float:
    """A number in [0, 1) fixed by (model, external_id): the same item always samples alike."""
    digest = hashlib.sha256(f"{model_slug}\x1f{external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def threshold_for(rules: dict[str, Any], label: str) -> float:
    return float(rules.get("min_confidence_by_label", {}).get(label, rules["min_confidence"]))


def decide(rules: dict[str, Any] | None, facts: PredictionFacts) -> RoutingDecision:
    tier = facts.criticality if facts.criticality in TIER_PRIORITY else "high"
    base = TIER_PRIORITY[tier]
    if rules is None:
        return RoutingDecision(
            routed=True,
            reasons=[NO_ACTIVE_POLICY],
            threshold=None,
            margin=None,
            priority=min(100, base + 20),
            sla_minutes=NO_POLICY_SLA_MINUTES[tier],
            fallback=dict(NO_POLICY_FALLBACK),
        )

    threshold = threshold_for(rules, facts.label)
    margin = round(facts.confidence - threshold, 6)
    reasons: list[str] = []
    details: dict[str, Any] = {"threshold": threshold, "confidence": facts.confidence}
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
        rate = float(rules.get("qa_sample_rate", 0))
        if rate > 0 and qa_bucket(facts.model_slug, facts.external_id) < rate:
            reasons.append(QA_SAMPLE)

    if not reasons:
        return RoutingDecision(False, [], threshold, margin, 0, None, None, details)

    sla = int(rules["sla_minutes"][tier])
    if reasons == [QA_SAMPLE]:
        priority = max(0, base - 10)
    else:
        priority = base
        if LOW_CONFIDENCE in reasons:
            priority += min(20, round(-margin * 100))
        if OOD_ABOVE_LIMIT in reasons or DRIFT_SIGNALLED in reasons:
            priority += 10
        if margin <= -FAR_BELOW_MARGIN:
            sla = max(1, math.ceil(sla / 2))
    return RoutingDecision(
        routed=True,
        reasons=reasons,
        threshold=threshold,
        margin=margin,
        priority=min(100, priority),
        sla_minutes=sla,
        fallback=dict(rules["fallback"]),
        details=details,
    )


def describe_reasons(reasons: list[str], details: dict[str, Any]) -> list[str]:
    """Plain sentences a reviewer reads in three seconds."""
    out = []
    for code in reasons:
        if code == LOW_CONFIDENCE and "threshold" in details:
            out.append(
                f"Confidence {details['confidence']:.2f} below threshold {details['threshold']:.2f}"
            )
        elif code == OOD_ABOVE_LIMIT and "ood_score" in details:
            out.append(f"OOD score {details['ood_score']:.2f} above {details['max_ood_score']:.2f}")
        elif code == DRIFT_SIGNALLED and details.get("drift_features"):
            out.append("Drift signalled on " + ", ".join(details["drift_features"]))
        else:
            out.append(REASON_LABELS.get(code, code))
    return out

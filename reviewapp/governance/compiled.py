"""A routing policy compiled once, then applied to many predictions: the fast form of
:func:`rules.decide`.

``decide(rules, facts)`` re-reads the rules on every call: it finds the schema, walks every
segment condition through the generic :func:`conditions.condition_holds`, and looks the
threshold up through two dictionaries. That is fine for one prediction and was more than half
of an impact replay over 200,000 (two policies each: docs/performance.md, "Evidence").
:func:`compile_policy` does that reading once per policy: each segment condition becomes a
closure specialised to its operator and constant, each context (the policy, or a segment) gets
its thresholds per label merged, its QA rate and its tier. Live routing
(``services/routing.py``), exact replay (``replay.py``) and the evidence (``evidence.py``) all
route through this module, so the same traffic under the same version routes the same way
everywhere.

``rules.decide`` stays the readable reference of the semantics (docs/policies.md);
tests/governance/test_compiled.py holds this module to it over many random facts and random
policies of both schemas. Pure: no database, no app imported.

Compile only rules that :func:`rules.validate_rules` accepts (every stored version does):
on malformed rules this may raise at compile time where ``decide`` would raise at call time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from .conditions import json_kind
from .rules import (
    DRIFT_SIGNALLED,
    LOW_CONFIDENCE,
    NO_ACTIVE_POLICY,
    NO_POLICY_FALLBACK,
    NO_POLICY_SLA_MINUTES,
    NORMAL,
    OOD_ABOVE_LIMIT,
    QA_SAMPLE,
    TIER_PRIORITY,
    PredictionFacts,
    RoutingDecision,
    apply_mode,
    facts_from_record,
    output_inconsistent,
    priority_and_sla,
    qa_bucket,
    schema_of,
)

Fields = Mapping[str, Any]
Condition = Callable[[Fields], bool]
# (routed, reasons, threshold, margin, priority, sla_minutes, details): a RoutingDecision
# without the fallback, so a replay that only counts never copies the fallback or builds an
# object per call.
Outcome = tuple[bool, list[str], float | None, float | None, int, int | None, dict[str, Any]]

# Evidence replays each prediction under two policies: the QA draw (a sha256) is the same for
# both, so the second asks a cache. Pure: the value depends on the arguments alone.
_qa_bucket = lru_cache(maxsize=64)(qa_bucket)
_isfinite = math.isfinite


def _is_number(value: Any) -> bool:
    # conditions.is_number, inlined in spirit: the same checks in the same order.
    return isinstance(value, int | float) and not isinstance(value, bool) and _isfinite(value)


def _matcher(expected: Any) -> Callable[[Any], bool]:
    """``value -> conditions.json_equal(value, expected)``, with ``expected``'s kind fixed."""
    kind = json_kind(expected)
    if kind == "null":
        return lambda value: value is None
    if kind == "boolean":
        return lambda value: isinstance(value, bool) and value == expected
    if kind == "string":
        return lambda value: isinstance(value, str) and value == expected
    if kind == "number":
        return lambda value: _is_number(value) and value == expected
    return lambda value: False  # json_equal is never true for a list, an object or NaN


def _member(values: list[Any]) -> Callable[[Any], bool]:
    """``value -> any(json_equal(value, v) for v in values)``: one set lookup per kind."""
    strings = {v for v in values if json_kind(v) == "string"}
    numbers = {v for v in values if json_kind(v) == "number"}
    booleans = {v for v in values if json_kind(v) == "boolean"}
    null = any(v is None for v in values)

    def holds(value: Any) -> bool:
        if value is None:
            return null
        if isinstance(value, bool):
            return value in booleans
        if isinstance(value, str):
            return value in strings
        return _is_number(value) and value in numbers

    return holds


def compile_condition(condition: Mapping[str, Any]) -> Condition:
    """``fields -> conditions.condition_holds(condition, fields)``."""
    path, op = condition["field"], condition["op"]
    if op == "exists":
        want = condition.get("value", True)
        return lambda fields: (path in fields) == want
    expected = condition["value"]
    # A missing value satisfies no comparison, not even != or not_in.
    if op in ("==", "!="):
        equal = _matcher(expected)
        if op == "==":
            return lambda fields: path in fields and equal(fields[path])
        return lambda fields: path in fields and not equal(fields[path])
    if op in ("in", "not_in"):
        member = _member(expected)
        if op == "in":
            return lambda fields: path in fields and member(fields[path])
        return lambda fields: path in fields and not member(fields[path])
    if op == "<":
        return lambda fields: path in fields and _is_number(v := fields[path]) and v < expected
    if op == "<=":
        return lambda fields: path in fields and _is_number(v := fields[path]) and v <= expected
    if op == ">":
        return lambda fields: path in fields and _is_number(v := fields[path]) and v > expected
    if op == ">=":
        return lambda fields: path in fields and _is_number(v := fields[path]) and v >= expected
    raise ValueError(f"Unknown condition operator {op!r}.")


class _Context:
    """What routing reads inside one context: the policy itself, or one of its segments."""

    __slots__ = ("by_label", "default", "qa_rate", "tier", "name", "conditions")

    def __init__(
        self,
        *,
        by_label: dict[str, float],
        default: float,
        qa_rate: float,
        tier: str | None,
        name: str | None,
        conditions: tuple[Condition, ...] = (),
    ) -> None:
        self.by_label = by_label
        self.default = default
        self.qa_rate = qa_rate
        self.tier = tier
        self.name = name
        self.conditions = conditions


class CompiledPolicy:
    """One policy's rules, read once. ``decide(facts)`` equals ``rules.decide(rules, facts)``."""

    __slots__ = (
        "rules",
        "_top",
        "_segments",
        "_max_ood",
        "_on_drift",
        "_sla",
        "_fallback",
    )

    def __init__(self, rules: dict[str, Any] | None) -> None:
        self.rules = rules
        if rules is None:
            return
        rules_by_label = {
            label: float(value) for label, value in rules.get("min_confidence_by_label", {}).items()
        }
        self._top = _Context(
            by_label=rules_by_label,
            default=float(rules["min_confidence"]),
            qa_rate=float(rules.get("qa_sample_rate", 0)),
            tier=None,
            name=None,
        )
        segments = []
        for segment in rules.get("segments", ()) if schema_of(rules) == 2 else ():
            own = {
                label: float(value)
                for label, value in segment.get("min_confidence_by_label", {}).items()
            }
            if "min_confidence" in segment:
                by_label, default = own, float(segment["min_confidence"])
            else:
                by_label, default = {**rules_by_label, **own}, self._top.default
            segments.append(
                _Context(
                    by_label=by_label,
                    default=default,
                    qa_rate=float(segment["qa_sample_rate"])
                    if "qa_sample_rate" in segment
                    else self._top.qa_rate,
                    tier=segment.get("tier"),
                    name=segment["name"],
                    conditions=tuple(compile_condition(c) for c in segment["conditions"]),
                )
            )
        self._segments = tuple(segments)
        self._max_ood = rules.get("max_ood_score")
        self._on_drift = rules.get("route_on_drift", True)
        self._sla = rules["sla_minutes"]
        self._fallback = rules["fallback"]

    def outcome_of_record(self, record: Mapping[str, Any]) -> Outcome:
        """The decision for a stored facts record (``rules.facts_record``'s JSON) as a tuple:
        what a replay that only counts needs, without building ``PredictionFacts``.

        A record routed under a mode other than normal, with data-quality findings, or whose
        label its scores contradict, takes the full path (:meth:`decide`): rare, and the same
        adjustment live routing made."""
        if (
            record.get("anomalies")
            or record.get("mode", NORMAL) != NORMAL
            or output_inconsistent(record["label"], record.get("top_scores"))
        ):
            d = self.decide(facts_from_record(record))
            return (d.routed, d.reasons, d.threshold, d.margin, d.priority, d.sla_minutes,
                    d.details)  # fmt: skip
        return self._outcome(
            record["model_slug"],
            record["external_id"],
            record["label"],
            record["confidence"],
            record["criticality"],
            record["ood_score"],
            record["drift_features"],
            record["fields"],
        )

    def _outcome(
        self,
        model_slug: str,
        external_id: str,
        label: str,
        confidence: float,
        criticality: str,
        ood_score: float | None,
        drift_features: tuple[str, ...] | list[str],
        fields: Fields,
    ) -> Outcome:
        tier = criticality if criticality in TIER_PRIORITY else "high"
        if self.rules is None:
            return (
                True,
                [NO_ACTIVE_POLICY],
                None,
                None,
                min(100, TIER_PRIORITY[tier] + 20),
                NO_POLICY_SLA_MINUTES[tier],
                {},
            )
        context = self._top
        for segment in self._segments:
            for condition in segment.conditions:
                if not condition(fields):
                    break
            else:
                context = segment
                break
        if context.tier is not None:
            tier = context.tier
        threshold = context.by_label.get(label, context.default)
        margin = round(confidence - threshold, 6)
        details: dict[str, Any] = {"threshold": threshold, "confidence": confidence}
        if context.name is not None:
            details["segment"] = context.name
        reasons: list[str] = []
        if confidence < threshold:
            reasons.append(LOW_CONFIDENCE)
        max_ood = self._max_ood
        if max_ood is not None and ood_score is not None and ood_score > max_ood:
            reasons.append(OOD_ABOVE_LIMIT)
            details["ood_score"] = ood_score
            details["max_ood_score"] = max_ood
        if self._on_drift and drift_features:
            reasons.append(DRIFT_SIGNALLED)
            details["drift_features"] = list(drift_features)
        if not reasons:
            rate = context.qa_rate
            if rate > 0 and _qa_bucket(model_slug, external_id) < rate:
                reasons.append(QA_SAMPLE)
            else:
                return (False, reasons, threshold, margin, 0, None, details)
        priority, sla = priority_and_sla(
            base=TIER_PRIORITY[tier], sla_minutes=self._sla[tier], reasons=reasons, margin=margin
        )
        return (True, reasons, threshold, margin, priority, sla, details)

    def decide(self, facts: PredictionFacts) -> RoutingDecision:
        decision = self._policy_decision(facts)
        if (
            facts.mode == NORMAL
            and not facts.anomalies
            and not output_inconsistent(facts.label, facts.top_scores)
        ):
            return decision
        return apply_mode(self.rules, facts, decision)

    def _policy_decision(self, facts: PredictionFacts) -> RoutingDecision:
        routed, reasons, threshold, margin, priority, sla, details = self._outcome(
            facts.model_slug,
            facts.external_id,
            facts.label,
            facts.confidence,
            facts.criticality,
            facts.ood_score,
            facts.drift_features,
            facts.fields,
        )
        if self.rules is None:
            fallback: dict[str, Any] | None = dict(NO_POLICY_FALLBACK)
        else:
            fallback = dict(self._fallback) if routed else None
        return RoutingDecision(
            routed=routed,
            reasons=reasons,
            threshold=threshold,
            margin=margin,
            priority=priority,
            sla_minutes=sla,
            fallback=fallback,
            details=details,
        )


def compile_policy(rules: dict[str, Any] | None) -> CompiledPolicy:
    """The policy read once (``None``: no active policy, everything is reviewed)."""
    return CompiledPolicy(rules)

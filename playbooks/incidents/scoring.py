"""Rollback scoring: a pure function, facts in, ranking out (no Django, no database), in the
shape of ``reviewapp.governance.rules.decide``. ``recovery/facts.py`` gathers the facts; the page,
the API and replay-style tests all call :func:`rank`.

The formula (docs/incidents/recovery.md says the same in words)
----------------------------------------------------------------
For one hour in a given state (``wrong`` wrong automated decisions per hour, ``extra`` more
predictions reviewed per hour, ``delayed`` the share of the model's decisions that wait or fall
back), with the model's business profile (``C`` cost of a wrong decision, ``D`` cost per hour of
delay, criticality factor ``k``, regulatory factor ``g``), the median handling time ``h``
seconds, the reviewer cost per hour ``r`` and the weights ``w``::

    revenue_at_risk   = w.revenue    × wrong × C
    customer_impact   = w.customer   × wrong × C × k          k: critical 1, high 0.5,
                                                                 medium 0.25, low 0.1
    regulatory        = w.regulatory × wrong × C × g          g: none 0, internal 0.1,
                                                                 regulated 0.5, high_risk 1
    review_cost       = w.review     × extra × h / 3600 × r
    delay_cost        = w.delay      × delayed × D

A candidate path takes ``T`` hours to take effect (its expected time to recover). Over the
scoring horizon ``H`` hours::

    score = min(T, H) × cost_per_hour(now) + max(H − T, 0) × cost_per_hour(after)

where ``now`` is the incident as it is (wrong = volume × auto share × error rate now, nothing
extra reviewed, nothing delayed) and ``after`` is the candidate's effect (wrong = (volume × auto
share − extra) × error rate after). Each of the ten terms is reported by name
(``until_recovery.revenue_at_risk`` … ``after.delay_cost``).

Safety margins: a path whose error rate after is above the tolerated error rate, or whose
latency after is above the latency ceiling (when latency is known), is unsafe, with the reason;
every unsafe path ranks after every safe one. Inside each group the lower score ranks first
(ties: the order of ``PATHS``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PATHS = (
    "policy_rollback",
    "raise_threshold",
    "contain",
    "halt",
    "producer_rollback",
    "fix_forward",
    "do_nothing",
)
POLICY_PATHS = ("policy_rollback", "raise_threshold")
CRITICALITY_FACTOR = {"critical": 1.0, "high": 0.5, "medium": 0.25, "low": 0.1}
REGULATORY_FACTOR = {"none": 0.0, "internal": 0.1, "regulated": 0.5, "high_risk": 1.0}
COMPONENTS = ("revenue_at_risk", "customer_impact", "regulatory", "review_cost", "delay_cost")
WEIGHT_KEYS = ("revenue", "customer", "regulatory", "review", "delay")


@dataclass(frozen=True)
class Profile:
    """The model's governed business profile (its model settings document)."""

    cost_of_wrong_decision: float
    cost_per_hour_of_delay: float
    regulatory_class: str = "none"
    criticality: str = "high"


@dataclass(frozen=True)
class Figures:
    """The incident as it is, per hour, for one model."""

    volume_per_hour: float
    auto_share: float  # share of predictions passed without review
    error_rate: float  # wrong share of automated decisions (the override rate of recent reviews)
    handling_seconds: float
    reviewer_cost_per_hour: float
    latency_ms: float | None = None  # where producers send signals.latency_ms

    @property
    def auto_per_hour(self) -> float:
        return self.volume_per_hour * self.auto_share

    @property
    def wrong_per_hour(self) -> float:
        return self.auto_per_hour * self.error_rate


@dataclass(frozen=True)
class Margins:
    tolerated_error_rate: float
    latency_ceiling_ms: float | None = None


@dataclass(frozen=True)
class Candidate:
    """One recovery path with its expected effect."""

    path: str
    label: str
    error_rate_after: float
    hours_to_recover: float
    extra_review_per_hour: float = 0.0
    delayed_share: float = 0.0
    latency_ms_after: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scored:
    rank: int
    candidate: Candidate
    score: float
    components: dict[str, float]
    safe: bool
    unsafe_reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "rank": self.rank,
            "path": c.path,
            "label": c.label,
            "params": dict(c.params),
            "score": self.score,
            "components": dict(self.components),
            "safe": self.safe,
            "unsafe_reasons": list(self.unsafe_reasons),
            "effect": {
                "error_rate_after": c.error_rate_after,
                "hours_to_recover": c.hours_to_recover,
                "extra_review_per_hour": c.extra_review_per_hour,
                "delayed_share": c.delayed_share,
                "latency_ms_after": c.latency_ms_after,
            },
        }


def weights_of(raw: Mapping[str, Any] | None) -> dict[str, float]:
    """Every weight (default 1), from a mapping that may name only some."""
    raw = raw or {}
    out = {}
    for key in WEIGHT_KEYS:
        value = raw.get(key, 1.0)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        out[key] = float(value) if ok and math.isfinite(value) and value >= 0 else 1.0
    return out


def cost_per_hour(
    *,
    profile: Profile,
    figures: Figures,
    weights: Mapping[str, float],
    wrong: float,
    extra: float,
    delayed: float,
) -> dict[str, float]:
    """The five named terms for one hour in one state (see the module's docstring)."""
    money = wrong * profile.cost_of_wrong_decision
    return {
        "revenue_at_risk": weights["revenue"] * money,
        "customer_impact": weights["customer"]
        * money
        * CRITICALITY_FACTOR.get(profile.criticality, 0.5),
        "regulatory": weights["regulatory"]
        * money
        * REGULATORY_FACTOR.get(profile.regulatory_class, 0.0),
        "review_cost": weights["review"]
        * extra
        * figures.handling_seconds
        / 3600
        * figures.reviewer_cost_per_hour,
        "delay_cost": weights["delay"] * delayed * profile.cost_per_hour_of_delay,
    }


def unsafe_reasons(candidate: Candidate, margins: Margins) -> tuple[str, ...]:
    reasons = []
    if candidate.error_rate_after > margins.tolerated_error_rate:
        reasons.append(
            f"error rate after {candidate.error_rate_after:.2%} is above the tolerated "
            f"{margins.tolerated_error_rate:.2%}"
        )
    if (
        margins.latency_ceiling_ms is not None
        and candidate.latency_ms_after is not None
        and candidate.latency_ms_after > margins.latency_ceiling_ms
    ):
        reasons.append(
            f"latency after {candidate.latency_ms_after:.0f} ms is above the ceiling of "
            f"{margins.latency_ceiling_ms:.0f} ms"
        )
    return tuple(reasons)


def score_one(
    candidate: Candidate,
    *,
    profile: Profile,
    figures: Figures,
    margins: Margins,
    weights: Mapping[str, float],
    horizon_hours: float,
) -> tuple[float, dict[str, float], tuple[str, ...]]:
    """(score, named components, unsafe reasons) of one candidate."""
    t = max(0.0, candidate.hours_to_recover)
    before_hours, after_hours = min(t, horizon_hours), max(horizon_hours - t, 0.0)
    now = cost_per_hour(
        profile=profile, figures=figures, weights=weights,
        wrong=figures.wrong_per_hour, extra=0.0, delayed=0.0,
    )  # fmt: skip
    auto_after = max(figures.auto_per_hour - candidate.extra_review_per_hour, 0.0)
    after = cost_per_hour(
        profile=profile, figures=figures, weights=weights,
        wrong=auto_after * candidate.error_rate_after,
        extra=candidate.extra_review_per_hour, delayed=candidate.delayed_share,
    )  # fmt: skip
    components = {f"until_recovery.{k}": round(before_hours * now[k], 2) for k in COMPONENTS}
    components.update({f"after.{k}": round(after_hours * after[k], 2) for k in COMPONENTS})
    return round(sum(components.values()), 2), components, unsafe_reasons(candidate, margins)


def rank(
    candidates: Iterable[Candidate],
    *,
    profile: Profile,
    figures: Figures,
    margins: Margins,
    weights: Mapping[str, Any] | None = None,
    horizon_hours: float = 24.0,
) -> list[Scored]:
    """The candidates ranked: safe ones by score, then unsafe ones by score."""
    w = weights_of(weights)
    scored = []
    for i, c in enumerate(candidates):
        score, components, reasons = score_one(
            c, profile=profile, figures=figures, margins=margins, weights=w,
            horizon_hours=horizon_hours,
        )  # fmt: skip
        order = PATHS.index(c.path) if c.path in PATHS else len(PATHS)
        scored.append((bool(reasons), score, order, i, c, components, reasons))
    scored.sort(key=lambda row: row[:4])
    return [
        Scored(n, c, score, components, not reasons, reasons)
        for n, (_unsafe, score, _order, _i, c, components, reasons) in enumerate(scored, start=1)
    ]

"""Change-request evidence (reviewapp/governance/evidence.py) on fixtures whose numbers are
worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.utils import timezone

from reviewapp.core import registry
from reviewapp.core.audit import Actor, build_event
from reviewapp.core.exceptions import NotFound, ServiceError
from reviewapp.governance import evidence_math as em
from reviewapp.governance.evidence import evidence_compute
from reviewapp.governance.tasks import (
    EVIDENCE_FAILED_HOOK,
    EVIDENCE_READY_HOOK,
    governance_compute_evidence,
)
from reviewapp.models import Decision, MLModel, Prediction, ReviewItem
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route
from tests.factories import MLModelFactory, UserFactory, envelope_for, make_policy

pytestmark = pytest.mark.django_db

SLA = {"critical": 15, "high": 60, "medium": 240, "low": 1440}


def rules(min_confidence: float, qa: float = 0.0, max_rate: float | None = 0.1) -> dict:
    return {
        "schema": 2,
        "min_confidence": min_confidence,
        "max_ood_score": None,
        "route_on_drift": True,
        "qa_sample_rate": qa,
        "sla_minutes": SLA,
        "fallback": {"action": "hold"},
        "max_auto_error_rate": max_rate,
    }


# Relative to today: a change request's evidence reads the last GOVERNANCE_EVIDENCE_WINDOW_DAYS
# before now, so fixed dates would fall out of it as the calendar moves on.
DAY1 = dt.datetime.combine(
    timezone.now().date() - dt.timedelta(days=3), dt.time(9, 0), tzinfo=dt.UTC
)
DAY2 = DAY1 + dt.timedelta(days=1)
UNTIL = DAY1 + dt.timedelta(days=2, hours=3)


def route(model: MLModel, confidences: list[float], at: dt.datetime, prefix: str) -> list[int]:
    envelopes = [
        {**envelope_for(model, f"{prefix}-{i}"), "confidence": c, "signals": {}}
        for i, c in enumerate(confidences)
    ]
    results = prediction_batch_ingest(
        envelopes=envelopes, account=None, actor=Actor.system("tests"), enqueue=False
    )
    ids = [r.id for r in results]
    assert predictions_route(ids=ids) == len(ids)
    Prediction.objects.filter(pk__in=ids).update(routed_at=at, received_at=at)
    return ids


def decide_item(prediction_id: int, action: str, *, claimed: dt.datetime, seconds: int) -> None:
    """A final decision ``seconds`` after the claim (the claim's time from its audit event)."""
    item = ReviewItem.objects.get(prediction_id=prediction_id)
    event = build_event(actor=Actor.system("tests"), verb="queue.review_item.claimed", target=item)
    event.occurred_at = claimed
    event.save(force_insert=True)
    prediction = item.prediction
    Decision.objects.create(
        item=item,
        prediction=prediction,
        model=prediction.model,
        reviewer=UserFactory(username="rev"),
        action=action,
        predicted_label=prediction.label,
        final_label=prediction.label,
        model_confidence=prediction.confidence,
        decided_at=claimed + dt.timedelta(seconds=seconds),
    )


@pytest.fixture
def traffic(db):
    """Active: threshold 0.70, no QA. Two days of traffic.

    day 1: 0.50 0.65 0.75 0.78 0.90 → active routes 0.50, 0.65 (2)
    day 2: 0.72 0.85 0.95 0.60      → active routes 0.60 (1)
    Reviewers override 0.50 and 0.65 and accept 0.60; handling 120, 240 and 600 s.
    """
    model = MLModelFactory(slug="card-fraud", criticality="high")
    make_policy(model, rules(0.70))
    day1 = route(model, [0.50, 0.65, 0.75, 0.78, 0.90], DAY1, "d1")
    day2 = route(model, [0.72, 0.85, 0.95, 0.60], DAY2, "d2")
    decide_item(day1[0], "override", claimed=DAY1, seconds=120)
    decide_item(day1[1], "override", claimed=DAY1 + dt.timedelta(hours=1), seconds=240)
    decide_item(day2[3], "accept", claimed=DAY2, seconds=600)
    return model, day1, day2


def day_row(evidence, day: dt.datetime) -> dict:
    [row] = [r for r in evidence.summary["impact"]["per_day"] if r["day"] == str(day.date())]
    return row


def test_impact_per_day_and_reviewer_hours_of_a_higher_threshold(traffic):
    model, day1, day2 = traffic
    evidence = evidence_compute(model_slug=model.slug, proposed_rules=rules(0.80), until=UNTIL)
    impact = evidence.summary["impact"]
    # Proposal 0.80 routes day 1: 0.50 0.65 0.75 0.78 (4); day 2: 0.72 0.60 (2).
    assert day_row(evidence, DAY1) | {"reviewer_hours_change": None} == {
        "day": str(DAY1.date()),
        "active": 2,
        "proposal": 4,
        "reviewer_hours_change": None,
    }
    assert (day_row(evidence, DAY2)["active"], day_row(evidence, DAY2)["proposal"]) == (1, 2)
    # Median of 120, 240, 600 s is 240 s: +2 items on day 1 is 480 s = 0.133 h.
    assert impact["median_handling_seconds"] == 240
    assert day_row(evidence, DAY1)["reviewer_hours_change"] == round(2 * 240 / 3600, 3)
    assert impact["totals"] == {
        "active": 3,
        "proposal": 6,
        "change": 3,
        "change_pct": 100.0,
        "reviewer_hours_change": round(3 * 240 / 3600, 3),
    }
    # Newly routed: 0.75, 0.78 (day 1), 0.72 (day 2), all for low confidence, no segment.
    newly = impact["newly_routed"]
    assert newly["by_reason"] == [
        {"key": "low_confidence", "count": 3, "examples": [day2[0], day1[3], day1[2]]}
    ]
    assert newly["by_segment"][0]["key"] == "(none)"
    assert impact["no_longer_routed"] == {"by_reason": [], "by_segment": []}
    assert impact["escaping_errors"]["count"] == 0
    # 14 days of UTC dates, the first starting at UNTIL − 14 days, plus the partial last one.
    assert len(impact["per_day"]) == 15
    assert evidence.flags == {
        "volume_change_over_25pct": True,
        "escaping_errors_increase": False,
        "calibration_warning": True,  # no QA sample at all: the upper bound is 1
        "replay_mismatches": 0,
    }


def test_errors_that_would_escape_review_under_a_lower_threshold(traffic):
    model, day1, day2 = traffic
    evidence = evidence_compute(model_slug=model.slug, proposed_rules=rules(0.60), until=UNTIL)
    impact = evidence.summary["impact"]
    # 0.60 routes only 0.50: 0.65 (overridden) and 0.60 (accepted) are no longer routed.
    assert impact["totals"]["active"] == 3 and impact["totals"]["proposal"] == 1
    assert impact["no_longer_routed"]["by_reason"] == [
        {"key": "low_confidence", "count": 2, "examples": [day2[3], day1[1]]}
    ]
    escaping = impact["escaping_errors"]
    assert escaping["count"] == 1
    assert escaping["examples"] == [day1[1]]
    assert escaping["active_count"] == 0
    assert escaping["overrides_reviewed"] == 2
    assert evidence.flags["escaping_errors_increase"] is True
    assert evidence.flags["volume_change_over_25pct"] is True


def test_capacity_check_uses_throughput_of_the_last_14_days(traffic):
    model, *_ = traffic
    evidence = evidence_compute(model_slug=model.slug, proposed_rules=rules(0.80), until=UNTIL)
    capacity = evidence.summary["capacity"]
    # 3 final decisions in 14 days.
    assert capacity["throughput_per_day"] == round(3 / 14, 3)
    assert capacity["proposal_peak_per_day"] == 4
    assert capacity["sla_minutes"] == {"active": 60, "proposal": 60}
    # Day 1: backlog 4 − 3/14; tolerated 3/14·60/1440 ≈ 0.009: all 4 arrivals breach.
    expected = em.sla_breaches(
        [r["proposal"] for r in evidence.summary["impact"]["per_day"]],
        capacity_per_day=3 / 14,
        sla_minutes=60,
    )
    assert capacity["sla_breaches"]["proposal_per_day"] == expected
    assert capacity["sla_breaches"]["proposal"] == 6


def test_replay_check_equals_what_routing_recorded_and_counts_a_tampered_record(traffic):
    model, day1, _ = traffic
    evidence = evidence_compute(model_slug=model.slug, proposed_rules=rules(0.80), until=UNTIL)
    assert evidence.summary["replay_check"] == {"compared": 9, "mismatches": 0, "examples": []}
    Prediction.objects.filter(pk=day1[4]).update(routed=True, reason_codes=["qa_sample"])
    evidence = evidence_compute(model_slug=model.slug, proposed_rules=rules(0.80), until=UNTIL)
    assert evidence.summary["replay_check"]["mismatches"] == 1
    assert evidence.summary["replay_check"]["examples"] == [day1[4]]
    assert evidence.flags["replay_mismatches"] == 1


def test_rows_without_stored_facts_are_reconstructed_and_counted(traffic):
    model, day1, _ = traffic
    before = evidence_compute(model_slug=model.slug, proposed_rules=rules(0.80), until=UNTIL)
    Prediction.objects.filter(pk=day1[0]).update(routing_facts=None)
    after = evidence_compute(model_slug=model.slug, proposed_rules=rules(0.80), until=UNTIL)
    assert after.summary["traffic"]["reconstructed_facts"] == 1
    assert after.summary["traffic"]["stored_facts"] == 8
    assert after.summary["impact"] == before.summary["impact"]


def test_the_hash_binds_base_proposal_window_and_result(traffic):
    model, *_ = traffic
    one = evidence_compute(model_slug=model.slug, proposed_rules=rules(0.80), until=UNTIL)
    again = evidence_compute(model_slug=model.slug, proposed_rules=rules(0.80), until=UNTIL)
    assert one.hash == again.hash and len(one.hash) == 64
    assert one.as_dict()["hash"] == one.hash
    other = evidence_compute(model_slug=model.slug, proposed_rules=rules(0.81), until=UNTIL)
    assert other.hash != one.hash
    later = evidence_compute(
        model_slug=model.slug, proposed_rules=rules(0.80), until=UNTIL + dt.timedelta(hours=1)
    )
    assert later.hash != one.hash


def test_the_window_and_the_cap_limit_what_is_read(traffic):
    model, day1, day2 = traffic
    capped = evidence_compute(
        model_slug=model.slug, proposed_rules=rules(0.80), until=UNTIL, max_predictions=4
    )
    assert capped.summary["traffic"]["predictions"] == 4  # the newest: day 2's
    assert capped.summary["traffic"]["truncated"] is True
    assert capped.summary["impact"]["totals"]["active"] == 1
    short = evidence_compute(
        model_slug=model.slug, proposed_rules=rules(0.80), until=UNTIL, window_days=2, chunk=2
    )
    assert short.summary["traffic"]["predictions"] == 4


def test_bad_input_names_the_field(traffic):
    model, *_ = traffic
    with pytest.raises(ServiceError) as bad:
        evidence_compute(model_slug=model.slug, proposed_rules={"min_confidence": 2})
    assert "rules.min_confidence" in bad.value.errors
    with pytest.raises(NotFound):
        evidence_compute(model_slug="nope", proposed_rules=rules(0.8))
    with pytest.raises(NotFound):
        evidence_compute(model_slug=model.slug, proposed_rules=rules(0.8), base_version=7)


# --- calibration -----------------------------------------------------------------------------
@pytest.fixture
def sampled(db):
    """Active: threshold 0.70, every confident prediction QA-sampled.

    10 at 0.86 (5 overridden), 10 at 0.92 (none overridden), 1 at 0.75 (below the proposed
    0.85: not counted), all reviewed.
    """
    model = MLModelFactory(slug="claims", criticality="high")
    make_policy(model, rules(0.70, qa=1.0))
    at_86 = route(model, [0.86] * 10, DAY1, "a")
    at_92 = route(model, [0.92] * 10, DAY1, "b")
    [at_75] = route(model, [0.75], DAY1, "c")
    for i, pk in enumerate(at_86):
        decide_item(pk, "override" if i < 5 else "accept", claimed=DAY1, seconds=60)
    for pk in [*at_92, at_75]:
        decide_item(pk, "accept", claimed=DAY1, seconds=60)
    return model


def test_wilson_intervals_match_known_values():
    low, high = em.wilson(0, 10)
    assert low == 0 and high == pytest.approx(0.2775, abs=1e-4)
    assert em.wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert em.wilson(0, 0) == (0.0, 1.0)


def test_samples_needed_at_a_tolerated_rate():
    # 0 of N: z²/(N + z²) ≤ 0.02 from N = 189 on.
    assert em.samples_needed(0, 0, 0.02) == 189
    assert em.wilson(0, 189)[1] <= 0.02 < em.wilson(0, 188)[1]
    # Observed 1 %: the smallest N whose upper bound at 1 % is at most 2 %.
    n = em.samples_needed(1, 100, 0.02)
    assert em.wilson(0.01 * n, n)[1] <= 0.02 < em.wilson(0.01 * (n - 1), n - 1)[1]
    assert em.samples_needed(3, 100, 0.02) is None  # observed above the bound


def test_calibration_per_bucket_with_wilson_intervals(sampled):
    evidence = evidence_compute(
        model_slug=sampled.slug, proposed_rules=rules(0.85, qa=1.0), until=UNTIL
    )
    calibration = evidence.summary["calibration"]
    assert [(b["from"], b["samples"], b["overrides"]) for b in calibration["buckets"]] == [
        (0.85, 10, 5),
        (0.9, 10, 0),
    ]
    first, second = calibration["buckets"]
    assert (first["low"], first["high"]) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert second["high"] == pytest.approx(0.2775, abs=1e-4)
    assert first["exceeds"] and second["exceeds"]
    # Pooled: 5 of 20, 0.25 ≥ 0.10, so no number of samples will show it tolerable.
    assert (calibration["samples"], calibration["overrides"]) == (20, 5)
    assert calibration["high"] == pytest.approx(em.wilson(5, 20)[1])
    assert calibration["warning"] is True and calibration["samples_needed"] is None
    assert evidence.flags["calibration_warning"] is True
    # QA samples at or above 0.85 per day over 14 days.
    assert calibration["qa_samples_per_day"] == round(20 / 14, 3)


def test_too_few_samples_says_how_many_more_at_the_current_qa_rate(sampled):
    evidence = evidence_compute(
        model_slug=sampled.slug,
        proposed_rules=rules(0.90, qa=1.0, max_rate=0.02),
        until=UNTIL,
    )
    calibration = evidence.summary["calibration"]
    # 0 of 10 above 0.90: the upper bound 0.2775 > 0.02; 189 needed, 179 more, at 10 / 14 a day.
    assert (calibration["samples"], calibration["overrides"]) == (10, 0)
    assert calibration["warning"] is True
    assert calibration["samples_needed"] == 189
    assert calibration["more_samples_needed"] == 179
    assert calibration["days_to_enough_samples"] == round(179 / (10 / 14), 1)


def test_safety_margin_by_hand():
    buckets = [(0, 0)] * 20
    buckets[19] = (10, 0)  # 0.95: 0 of 10, upper 0.2775 ≤ 0.30: safe
    buckets[18] = (10, 0)  # 0.90: 0 of 20, upper 0.1611: safe
    buckets[17] = (10, 5)  # 0.85: 5 of 30, upper > 0.30: crosses here
    assert em.wilson(0, 20)[1] < 0.3 < em.wilson(5, 30)[1]
    margin = em.safety_margin(buckets, threshold=0.95, max_rate=0.3)
    assert margin == em.Margin(lowest_safe_threshold=0.9, crossing_confidence=0.85, margin=0.05)
    below = em.safety_margin(buckets, threshold=0.85, max_rate=0.3)
    assert below.margin == pytest.approx(-0.05)
    assert em.safety_margin([(0, 0)] * 20, threshold=0.9, max_rate=0.3).margin is None


def test_safety_margin_in_the_evidence(sampled):
    evidence = evidence_compute(
        model_slug=sampled.slug, proposed_rules=rules(0.95, qa=1.0, max_rate=0.3), until=UNTIL
    )
    # Above 0.90: 0 of 10 (0.2775 ≤ 0.3) safe; above 0.85: 5 of 20 (upper > 0.3) crosses.
    assert em.wilson(5, 20)[1] > 0.3
    assert evidence.summary["safety_margin"] == {
        "threshold": 0.95,
        "lowest_safe_threshold": 0.9,
        "crossing_confidence": 0.85,
        "margin": 0.05,
    }


def test_sla_breaches_fluid_estimate_by_hand():
    # Capacity 100/day, SLA 144 min: 10 items clear within an SLA.
    # Day 1: 150 → backlog 50, 40 breach. Day 2: 50 → backlog 0. Day 3: 120 → backlog 20, 10.
    assert em.sla_breaches([150, 50, 120], capacity_per_day=100, sla_minutes=144) == [40, 0, 10]
    assert em.sla_breaches([5, 0], capacity_per_day=0, sla_minutes=60) == [5, 0]


def test_median_and_buckets():
    assert em.median([]) is None
    assert em.median([3, 1, 2]) == 2 and em.median([4, 1, 2, 3]) == 2.5
    assert em.bucket_of(1.0) == 19 and em.bucket_of(0.85) == 17 and em.bucket_of(0.0) == 0
    assert math.isclose(em.Z95, 1.959964, abs_tol=1e-6)


# --- the task --------------------------------------------------------------------------------
def test_task_hands_the_evidence_to_the_hook(traffic):
    model, *_ = traffic
    seen = []

    def ready(*, revision, evidence):
        seen.append((revision, evidence))

    def failed(*, revision, errors):
        seen.append((revision, errors))

    registry.register_hook(EVIDENCE_READY_HOOK, ready)
    registry.register_hook(EVIDENCE_FAILED_HOOK, failed)
    try:
        governance_compute_evidence.apply(
            kwargs={"model_slug": model.slug, "proposed_rules": rules(0.8), "revision": 41}
        ).get()
        governance_compute_evidence.apply(
            kwargs={"model_slug": model.slug, "proposed_rules": {"x": 1}, "revision": 42}
        ).get()
    finally:
        registry.unregister_hook(EVIDENCE_READY_HOOK, ready)
        registry.unregister_hook(EVIDENCE_FAILED_HOOK, failed)
    (rev1, evidence), (rev2, errors) = seen
    assert rev1 == 41 and evidence.model_slug == model.slug and evidence.base_version == 1
    assert evidence.window_end <= timezone.now()
    assert rev2 == 42 and "rules.min_confidence" in errors

"""Rollback scoring (playbooks/incidents/scoring.py): the formula on numbers worked by hand,
the safety margins and the ranking. Pure: no database."""

from __future__ import annotations

import pytest

from playbooks.incidents import scoring
from playbooks.incidents.scoring import Candidate, Figures, Margins, Profile

PROFILE = Profile(
    cost_of_wrong_decision=100.0,
    cost_per_hour_of_delay=50.0,
    regulatory_class="regulated",  # factor 0.5
    criticality="high",  # factor 0.5
)
# 100 predictions an hour, 80 % passed without review, 5 % of those wrong: 4 wrong an hour.
FIGURES = Figures(
    volume_per_hour=100.0,
    auto_share=0.8,
    error_rate=0.05,
    handling_seconds=60.0,
    reviewer_cost_per_hour=45.0,
    latency_ms=300.0,
)
MARGINS = Margins(tolerated_error_rate=0.02, latency_ceiling_ms=500.0)

CONTAIN = Candidate("contain", "Contain", error_rate_after=0.0, hours_to_recover=0.1,
                    extra_review_per_hour=80.0, delayed_share=0.8)  # fmt: skip
HALT = Candidate("halt", "Halt", error_rate_after=0.0, hours_to_recover=0.1,
                 extra_review_per_hour=10.0, delayed_share=1.0)  # fmt: skip
PRODUCER = Candidate("producer_rollback", "Producer", error_rate_after=0.01, hours_to_recover=3.0)
NOTHING = Candidate("do_nothing", "Nothing", error_rate_after=0.05, hours_to_recover=0.0)
# The cheapest of all, but its latency breaks the ceiling.
SLOW = Candidate("policy_rollback", "Rollback to v1", error_rate_after=0.0, hours_to_recover=0.1,
                 latency_ms_after=900.0, params={"to_version": 1})  # fmt: skip


def ranked(*candidates):
    return scoring.rank(
        candidates, profile=PROFILE, figures=FIGURES, margins=MARGINS, horizon_hours=24
    )


def test_the_cost_of_containment_worked_by_hand():
    # Now, per hour: 4 wrong × 100 = 400 revenue at risk; customer 400 × 0.5 (high) = 200;
    # regulatory 400 × 0.5 (regulated) = 200; no extra review, no delay: 800 an hour.
    # Until it works: 0.1 h × (400, 200, 200) = 40, 20, 20.
    # After, 23.9 h: nothing wrong; 80 more reviewed an hour × 60 s / 3600 × 45 = 60 an hour
    # → 1434; delay 0.8 × 50 = 40 an hour → 956. Total 40 + 20 + 20 + 1434 + 956 = 2470.
    [row] = ranked(CONTAIN)
    assert row.components == {
        "until_recovery.revenue_at_risk": 40.0,
        "until_recovery.customer_impact": 20.0,
        "until_recovery.regulatory": 20.0,
        "until_recovery.review_cost": 0.0,
        "until_recovery.delay_cost": 0.0,
        "after.revenue_at_risk": 0.0,
        "after.customer_impact": 0.0,
        "after.regulatory": 0.0,
        "after.review_cost": 1434.0,
        "after.delay_cost": 956.0,
    }
    assert row.score == 2470.0
    assert row.safe and row.unsafe_reasons == ()


def test_a_producer_rollback_worked_by_hand():
    # Until it works: 3 h × 800 = 2400. After, 21 h: wrong = 80 passed × 1 % = 0.8 an hour
    # → 80 + 40 + 40 = 160 an hour → 3360. Total 5760.
    [row] = ranked(PRODUCER)
    assert row.components["until_recovery.revenue_at_risk"] == 1200.0  # 3 × 400
    assert row.components["after.revenue_at_risk"] == 1680.0  # 21 × 80
    assert row.components["after.regulatory"] == 840.0  # 21 × 40
    assert row.score == 5760.0


def test_halting_worked_by_hand():
    # 80 until it works; after (23.9 h): 10 sampled × 60 / 3600 × 45 = 7.5 an hour → 179.25;
    # everything falls back: 1.0 × 50 = 50 an hour → 1195. Total 1454.25.
    [row] = ranked(HALT)
    assert row.components["after.review_cost"] == 179.25
    assert row.components["after.delay_cost"] == 1195.0
    assert row.score == 1454.25


def test_doing_nothing_costs_the_whole_horizon_and_breaks_the_error_margin():
    [row] = ranked(NOTHING)
    assert row.score == 24 * 800.0
    assert not row.safe
    assert row.unsafe_reasons == ("error rate after 5.00% is above the tolerated 2.00%",)


def test_unsafe_paths_rank_after_every_safe_one_whatever_their_score():
    rows = ranked(NOTHING, SLOW, PRODUCER, CONTAIN, HALT)
    assert [(r.rank, r.candidate.path, r.safe) for r in rows] == [
        (1, "halt", True),  # 1454.25
        (2, "contain", True),  # 2470
        (3, "producer_rollback", True),  # 5760
        (4, "policy_rollback", False),  # 80: the cheapest, but too slow
        (5, "do_nothing", False),  # 19200
    ]
    slow = rows[3]
    assert slow.score == 80.0
    assert slow.unsafe_reasons == ("latency after 900 ms is above the ceiling of 500 ms",)


def test_latency_is_not_judged_where_producers_send_none():
    row = ranked(Candidate("halt", "Halt", 0.0, 0.1, latency_ms_after=None))[0]
    assert row.safe


def test_weights_scale_their_term_and_bad_weights_fall_back_to_one():
    heavy = scoring.rank(
        [CONTAIN], profile=PROFILE, figures=FIGURES, margins=MARGINS,
        weights={"review": 2, "delay": "x", "regulatory": -1}, horizon_hours=24,
    )[0]  # fmt: skip
    assert heavy.components["after.review_cost"] == 2868.0  # 2 × 1434
    assert heavy.components["after.delay_cost"] == 956.0  # "x": 1
    assert heavy.components["until_recovery.regulatory"] == 20.0  # -1: 1


@pytest.mark.parametrize("hours", [24, 30])
def test_a_path_slower_than_the_horizon_costs_the_horizon_at_todays_rate(hours):
    slow = Candidate("fix_forward", "Fix", error_rate_after=0.0, hours_to_recover=hours)
    assert ranked(slow)[0].score == 24 * 800.0


def test_as_dict_carries_everything_the_page_and_api_show():
    out = ranked(SLOW)[0].as_dict()
    assert out["path"] == "policy_rollback" and out["params"] == {"to_version": 1}
    assert out["safe"] is False and out["unsafe_reasons"]
    assert out["effect"]["latency_ms_after"] == 900.0

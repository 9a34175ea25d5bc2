"""The pure rule evaluator, the metric registry and the spike/shift label (no database)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from reviewapp.dashboards import rules
from reviewapp.dashboards.rules import (
    BREACHED,
    MISSING,
    NONE,
    PENDING,
    SHIFT,
    SHORT,
    SPIKE,
    STALE,
    WITHIN,
    BucketFigures,
    Point,
    Rule,
    Series,
    ShapeRule,
    classify,
    evaluate,
    metric_value,
)

T = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
W = dt.timedelta(minutes=5)


def points(values, start=T):
    return tuple(Point(start + i * W, v) for i, v in enumerate(values))


def series(values, metric="override_rate", lag=dt.timedelta(0)):
    pts = points(values)
    end = T + len(pts) * W
    return Series(metric, 5, pts, until=end + lag, complete_until=end)


OVER = Rule(metric="override_rate", op=">", bound=0.15, duration_minutes=30)  # 6 buckets
LOW = 0.10
HIGH = 0.20


@pytest.mark.parametrize(
    ("values", "rule", "breached", "reason", "since_index"),
    [
        pytest.param([LOW] * 4 + [HIGH] * 5, OVER, False, WITHIN, None, id="crossed-for-25-min"),
        pytest.param([LOW] * 4 + [HIGH] * 6, OVER, True, BREACHED, 4, id="exactly-30-min"),
        pytest.param([HIGH] * 10, OVER, True, BREACHED, 0, id="since-reaches-back"),
        pytest.param([HIGH] * 6 + [LOW], OVER, False, WITHIN, None, id="came-back-last-bucket"),
        pytest.param([0.15] * 6, OVER, False, WITHIN, None, id="at-the-bound-is-not-past"),
        pytest.param(
            [HIGH] * 5 + [None], OVER, False, MISSING, None, id="gap-in-the-newest-bucket"
        ),
        pytest.param([HIGH] * 2 + [None] + [HIGH] * 3, OVER, False, MISSING, None, id="gap-inside"),
        pytest.param(
            [HIGH] * 3 + [None] + [HIGH] * 6, OVER, True, BREACHED, 4, id="gap-before-the-window"
        ),
        pytest.param([HIGH] * 5, OVER, False, SHORT, None, id="series-shorter-than-duration"),
        pytest.param([], OVER, False, SHORT, None, id="empty"),
        pytest.param(
            [LOW, HIGH, HIGH],
            Rule(metric="override_rate", op=">", bound=0.15, duration_minutes=7),
            True,
            BREACHED,
            1,
            id="7-min-rounds-up-to-2-buckets",
        ),
        pytest.param(
            [HIGH, HIGH],
            Rule(metric="override_rate", op=">", bound=0.15, duration_minutes=1),
            True,
            BREACHED,
            0,
            id="at-least-one-bucket",
        ),
        pytest.param(
            [0.9, 0.4, 0.3],
            Rule(metric="override_rate", op="<", bound=0.5, duration_minutes=10),
            True,
            BREACHED,
            1,
            id="below",
        ),
    ],
)
def test_evaluate(values, rule, breached, reason, since_index):
    finding = evaluate(rule, series(values))
    assert (finding.breached, finding.reason) == (breached, reason)
    n = rule.buckets_needed(5)
    assert finding.values == points(values)[-n:]
    expected_since = None if since_index is None else T + since_index * W
    assert finding.since == expected_since
    if values:
        assert finding.as_of == T + len(values) * W


def test_a_stale_series_never_breaches():
    assert evaluate(OVER, series([HIGH] * 6, lag=dt.timedelta(minutes=10))).breached
    stale = evaluate(OVER, series([HIGH] * 6, lag=dt.timedelta(minutes=11)))
    assert (stale.breached, stale.reason) == (False, STALE)


def test_buckets_that_are_not_consecutive_are_a_gap():
    pts = points([HIGH] * 7)
    holed = pts[:3] + pts[4:]  # six values, but 09:15 is missing between them
    s = Series("override_rate", 5, holed, until=T + 7 * W, complete_until=T + 7 * W)
    assert evaluate(OVER, s).reason == MISSING


def test_the_rule_must_match_the_series_metric():
    with pytest.raises(ValueError, match="series"):
        evaluate(OVER, series([HIGH] * 6, metric="open_queue"))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"metric": "nope"}, "metric"),
        ({"op": ">="}, "op"),
        ({"bound": float("nan")}, "bound"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"max_lag_minutes": -1}, "max_lag_minutes"),
    ],
)
def test_a_rule_names_what_is_wrong(kwargs, field):
    base = {"metric": "override_rate", "op": ">", "bound": 0.15, "duration_minutes": 30}
    with pytest.raises(ValueError, match=field):
        Rule(**{**base, **kwargs})


# --- Registry --------------------------------------------------------------------------------


def fig(minute, **counts):
    return BucketFigures(start=T + dt.timedelta(minutes=minute), **counts)


def test_window_metrics_sum_the_buckets_before_dividing():
    window = [
        fig(0, accepted=9, overridden=1, received=100, routed=10, passed=90, open_queue=40),
        fig(5, accepted=0, overridden=1, received=20, routed=20, passed=0, open_queue=None),
        fig(10, received=0, sla_breaches=3, confidence_sum=1.5, confidence_count=2),
    ]
    # 2 overrides of 11 final decisions, not the mean of 10% and 100%.
    assert metric_value("override_rate", window, 5) == pytest.approx(2 / 11)
    assert metric_value("routed_rate", window, 5) == pytest.approx(30 / 120)
    assert metric_value("auto_accept_rate", window, 5) == pytest.approx(90 / 120)
    assert metric_value("received_per_minute", window, 5) == pytest.approx(120 / 15)
    assert metric_value("sla_breaches", window, 5) == 3
    assert metric_value("mean_confidence", window, 5) == pytest.approx(0.75)
    assert metric_value("open_queue", window, 5) == 40  # the latest sample in the window
    assert metric_value("qa_override_rate", window, 5) is None  # no QA sample decided
    # Nothing to compute from: no value, not zero.
    assert metric_value("sla_breaches", [], 5) is None
    assert metric_value("override_rate", [fig(0, received=5)], 5) is None


def test_every_metric_has_a_unit_and_a_noise_floor():
    assert set(rules.METRICS) >= {
        "override_rate",
        "open_queue",
        "routed_rate",
        "auto_accept_rate",
        "sla_breaches",
        "mean_confidence",
        "received_per_minute",
    }
    for metric in rules.METRICS.values():
        assert metric.unit in {"ratio", "items", "per_minute", "confidence", "minutes"}
        assert metric.noise_floor > 0


# --- Spike or shift --------------------------------------------------------------------------


def noisy(n, level, spread, seed):
    rng = random.Random(seed)
    return [level + rng.uniform(-spread, spread) for _ in range(n)]


BASELINE = points(noisy(24, 0.10, 0.01, seed=1), start=T - 24 * W)


def shape(values, **kwargs):
    return classify(points(values), BASELINE, min_spread=0.005, **kwargs)


def test_a_short_excursion_that_returned_is_a_spike():
    result = shape([0.10, 0.11, 0.40, 0.38, 0.10, 0.09])
    assert (result.label, result.direction, result.since) == (SPIKE, 1, T + 2 * W)
    assert result.level == pytest.approx(0.39)


def test_a_level_that_stays_up_is_a_shift():
    result = shape([0.10, 0.09, 0.25, 0.24, 0.26, 0.25])
    assert (result.label, result.direction, result.since) == (SHIFT, 1, T + 2 * W)
    assert result.level == pytest.approx(0.25)
    assert result.baseline_median == pytest.approx(0.10, abs=0.01)


def test_a_level_that_stays_down_is_a_shift():
    result = shape([0.10, 0.02, 0.01, 0.02])
    assert (result.label, result.direction, result.since) == (SHIFT, -1, T + W)


def test_noise_is_none():
    result = shape(noisy(36, 0.10, 0.01, seed=2))
    assert (result.label, result.direction, result.since) == (NONE, 0, None)
    assert result.band_low < 0.09 and result.band_high > 0.11


def test_a_fresh_excursion_is_pending_until_it_lasts_or_returns():
    assert shape([0.10, 0.30, 0.31]).label == PENDING
    assert shape([0.10, 0.30, 0.31, 0.30]).label == SHIFT
    assert shape([0.10, 0.30, 0.31, 0.10]).label == SPIKE


def test_missing_values_neither_break_nor_extend_a_run():
    assert shape([0.10, 0.30, None, 0.31, None, 0.30]).label == SHIFT
    assert shape([0.10, 0.30, None, None]).label == PENDING


def test_a_run_that_flips_side_starts_again():
    # Up two buckets, then down: the up run ended (a spike); the down run is new.
    assert shape([0.30, 0.31, 0.01]).label == PENDING
    assert shape([0.30, 0.31, 0.01]).direction == -1


def test_too_little_baseline_judges_nothing():
    result = classify(points([0.9] * 5), BASELINE[:5])
    assert (result.label, result.baseline_median) == (NONE, None)


def test_a_flat_baseline_uses_the_floor():
    flat = points([100.0] * 12, start=T - 12 * W)
    assert classify(points([101.0] * 4), flat, min_spread=1.0).label == NONE
    assert classify(points([104.0] * 4), flat, min_spread=1.0).label == SHIFT
    # persist is the caller's: a longer one asks more of a shift.
    assert (
        classify(points([104.0] * 4), flat, min_spread=1.0, rule=ShapeRule(persist=6)).label
        == PENDING
    )

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from reviewapp.dashboards.stats import (
    NO_DATA,
    NORMAL,
    PENDING,
    SHIFT,
    SPIKE,
    TTD_EDGES_SECONDS,
    AnomalyRule,
    bucket_floor,
    calibration_bucket,
    classify_series,
    percentile_from_bins,
    ttd_bin,
)

BINS = len(TTD_EDGES_SECONDS) + 1


def binned(samples):
    bins = [0] * BINS
    for s in samples:
        bins[ttd_bin(s)] += 1
    return bins


def exact_quantile(samples, q):
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_bin_edges_are_half_open_and_the_last_bin_is_open_ended():
    assert ttd_bin(0) == 0
    assert ttd_bin(14.9) == 0
    assert ttd_bin(15) == 1  # [15, 30)
    assert ttd_bin(29.99) == 1
    assert ttd_bin(TTD_EDGES_SECONDS[-1] * 10) == BINS - 1
    assert ttd_bin(-3) == 0


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_percentiles_from_bins_track_a_lognormal_within_the_stated_error(q):
    rng = random.Random(7)
    # Review times: median about 20 minutes, long right tail.
    samples = [rng.lognormvariate(math.log(1200), 0.9) for _ in range(20000)]
    estimate = percentile_from_bins(binned(samples), q)
    truth = exact_quantile(samples, q)
    assert abs(estimate - truth) / truth < 0.2, (estimate, truth)


def test_percentile_is_exact_for_durations_spread_evenly_in_log_time():
    # 1000 durations evenly spaced in log between 60 s and 3840 s (bins 60..3840 are exact
    # doubling bins): geometric interpolation recovers the quantiles almost exactly.
    samples = [60 * 64 ** ((i + 0.5) / 1000) for i in range(1000)]
    for q in (0.5, 0.9):
        truth = exact_quantile(samples, q)
        assert percentile_from_bins(binned(samples), q) == pytest.approx(truth, rel=0.01)


def test_percentile_edge_cases():
    assert percentile_from_bins([0] * BINS, 0.5) is None
    only_first = [4] + [0] * (BINS - 1)
    assert percentile_from_bins(only_first, 0.5) == pytest.approx(7.5)  # linear inside [0, 15)
    overflow = [0] * (BINS - 1) + [3]
    assert percentile_from_bins(overflow, 0.9) == TTD_EDGES_SECONDS[-1]  # "at least"


def test_calibration_buckets():
    assert calibration_bucket(0.0) == 0
    assert calibration_bucket(0.0999) == 0
    assert calibration_bucket(0.1) == 1
    assert calibration_bucket(0.55) == 5
    assert calibration_bucket(0.9) == 9
    assert calibration_bucket(1.0) == 9


def test_bucket_floor_aligns_to_the_epoch():
    moment = dt.datetime(2026, 11, 20, 9, 47, 12, tzinfo=dt.UTC)
    assert bucket_floor(moment, 60) == dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    assert bucket_floor(moment, 15) == dt.datetime(2026, 11, 20, 9, 45, tzinfo=dt.UTC)
    assert bucket_floor(moment, 24 * 60) == dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


# --- spike or shift --------------------------------------------------------------------------

BASE = [0.10, 0.11, 0.09, 0.10, 0.12, 0.10, 0.11, 0.09, 0.10, 0.11, 0.10, 0.09]


def kinds(values, rule=None):
    return [p.kind for p in classify_series(values, rule)]


def test_steady_series_is_all_normal():
    assert set(kinds(BASE + [0.11, 0.10, 0.09])) == {NORMAL}


def test_one_bucket_out_and_back_is_a_spike():
    out = kinds(BASE + [0.40, 0.10, 0.11])
    assert out[12] == SPIKE
    assert out[13:] == [NORMAL, NORMAL]


def test_two_buckets_out_and_back_is_still_a_spike():
    out = kinds(BASE + [0.40, 0.35, 0.10])
    assert out[12:] == [SPIKE, SPIKE, NORMAL]


def test_three_buckets_out_is_a_shift_and_stays_one():
    out = kinds(BASE + [0.30, 0.31, 0.29, 0.30])
    assert out[12:] == [SHIFT, SHIFT, SHIFT, SHIFT]


def test_recent_excursion_is_pending_until_decided():
    assert kinds(BASE + [0.40])[12] == PENDING
    assert kinds(BASE + [0.40, 0.42])[12:] == [PENDING, PENDING]


def test_downward_shift_is_flagged_with_its_direction():
    points = classify_series(BASE + [0.0, 0.0, 0.01])
    assert [p.kind for p in points[12:]] == [SHIFT] * 3
    assert all(p.direction == -1 for p in points[12:])


def test_a_spike_does_not_move_the_baseline():
    points = classify_series(BASE + [0.9, 0.10])
    assert points[13].band.median == pytest.approx(0.10)


def test_after_a_shift_the_band_follows_the_new_level():
    series = BASE + [0.30] * 12
    out = kinds(series)
    assert out[12:15] == [SHIFT] * 3
    # Once the new level is the trailing median, it is simply the normal level.
    assert out[-1] == NORMAL


def test_flat_history_uses_the_minimum_width_not_a_zero_band():
    flat = [0.2] * 12
    assert kinds(flat + [0.21])[-1] == NORMAL  # 1 point inside the 2-point floor
    assert kinds(flat + [0.25])[-1] == PENDING


def test_gaps_neither_break_nor_extend_a_run():
    out = kinds(BASE + [0.40, None, 0.41, 0.42])
    assert out[12:] == [SHIFT, NO_DATA, SHIFT, SHIFT]


def test_too_little_history_is_never_flagged():
    assert set(kinds([0.1, 0.9, 0.1, 0.9])) == {NORMAL}


def test_the_rule_is_configurable():
    rule = AnomalyRule(persist=2)
    assert kinds(BASE + [0.40, 0.35, 0.10], rule)[12:] == [SHIFT, SHIFT, NORMAL]


def test_sampling_noise_widens_the_band_for_small_buckets():
    # 12% then 22%: out of band for 2000-item buckets, within noise for 20-item ones.
    values = [0.12] * 12 + [0.22, 0.22, 0.22]
    assert kinds(values)[-1] == SHIFT
    points = classify_series(values, counts=[20] * 15)
    assert [p.kind for p in points[12:]] == [NORMAL] * 3
    # 3 x sqrt(0.12 x 0.88 / 20) = 0.218 either side of the median.
    assert points[12].band.high == pytest.approx(0.12 + 3 * math.sqrt(0.12 * 0.88 / 20))
    big = classify_series(values, counts=[2000] * 15)
    assert [p.kind for p in big[12:]] == [SHIFT] * 3

"""Pure numeric helpers for the dashboards: no database, no Django models.

* time-to-disposition bins and percentile estimates from them,
* the calibration bucket of a confidence,
* the spike / shift classifier for a series of rates.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Upper edges (seconds) of the time-to-disposition bins: 15 s doubling up to about 68 h.
# Log-spaced, so every bin spans the same ratio (x2) and an estimate read from a bin is off by
# at most that ratio, whatever the scale; the last bin (>= 68 h) is open-ended.
TTD_EDGES_SECONDS: tuple[int, ...] = tuple(15 * 2**k for k in range(15))
CALIBRATION_BUCKETS = 10

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def ttd_bin(seconds: float) -> int:
    """Index of the bin holding a duration; bin i covers [edge[i-1], edge[i])."""
    return bisect.bisect_right(TTD_EDGES_SECONDS, max(0.0, seconds))


def percentile_from_bins(bins: Sequence[int], q: float) -> float | None:
    """Estimate the q-quantile (0 < q < 1) of durations counted in ``bins``.

    Inside a bin the estimate interpolates geometrically between its edges (the bins are
    log-spaced, so durations are assumed spread evenly in log time); the first bin [0, 15 s) is
    interpolated linearly. A quantile that falls in the open-ended last bin is reported as that
    bin's lower edge, i.e. "at least". None when nothing was counted.
    """
    total = sum(bins)
    if total <= 0:
        return None
    rank = q * total
    cumulative = 0
    for i, count in enumerate(bins):
        if count <= 0:
            continue
        if cumulative + count >= rank:
            fraction = (rank - cumulative) / count
            if i >= len(TTD_EDGES_SECONDS):
                return float(TTD_EDGES_SECONDS[-1])
            upper = float(TTD_EDGES_SECONDS[i])
            if i == 0:
                return upper * fraction
            lower = float(TTD_EDGES_SECONDS[i - 1])
            return lower * (upper / lower) ** fraction
        cumulative += count
    return float(TTD_EDGES_SECONDS[-1])  # pragma: no cover - rank <= total always stops above


def merge_bins(rows: Sequence[Sequence[int]], size: int) -> list[int]:
    out = [0] * size
    for row in rows:
        for i, value in enumerate(row[:size]):
            out[i] += value
    return out


def calibration_bucket(confidence: float) -> int:
    """0 for [0.0, 0.1), ..., 9 for [0.9, 1.0]."""
    if not math.isfinite(confidence):
        return 0
    return min(CALIBRATION_BUCKETS - 1, max(0, int(confidence * CALIBRATION_BUCKETS)))


def bucket_floor(moment: dt.datetime, minutes: int) -> dt.datetime:
    """Start of the fixed-width UTC bucket holding ``moment`` (buckets aligned to the epoch)."""
    width = minutes * 60
    seconds = int((moment - EPOCH).total_seconds())
    return EPOCH + dt.timedelta(seconds=seconds - seconds % width)


def safe_ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


# --- Spike or shift ----------------------------------------------------------------------------

NORMAL = "normal"
SPIKE = "spike"
SHIFT = "shift"
PENDING = "pending"  # out of band, too recent to say whether it returns
NO_DATA = "no_data"


@dataclass(frozen=True)
class Band:
    median: float
    low: float
    high: float


@dataclass(frozen=True)
class Point:
    kind: str  # NORMAL, SPIKE, SHIFT, PENDING or NO_DATA
    direction: int  # +1 above the band, -1 below, 0 inside
    band: Band | None


@dataclass(frozen=True)
class AnomalyRule:
    """The stated rule (docs/dashboards.md, and the "how to read this" on each model page).

    A bucket is *out of band* when its value is more than ``k`` standard deviations away from the
    median ``m`` of the trailing ``window`` buckets. The deviation used is the larger of the
    history's robust spread (1.4826 x MAD) and, when the bucket's volume ``n`` is known, the
    sampling noise of a rate over n items (sqrt(m(1-m)/n)), so a quiet hour with few predictions
    is not flagged for noise; and the band is never narrower than ``min_width`` either side (a
    flat history has MAD 0). A run of out-of-band buckets
    on the same side is a *spike* if it ends (the next bucket is back in band) within
    ``persist - 1`` buckets, and a *shift* once it lasts ``persist`` buckets or more. A run still
    open at the end of the series, shorter than ``persist``, is *pending*.

    Spikes never enter later baselines (a one-off must not move the band); shift buckets do, so
    the band follows a new level after about window / 2 buckets and later buckets read as normal.
    Buckets with no data are skipped, neither breaking nor extending a run.
    """

    window: int = 12
    k: float = 3.0
    min_width: float = 0.02
    persist: int = 3
    min_history: int = 6


def classify_series(
    values: Sequence[float | None],
    rule: AnomalyRule | None = None,
    counts: Sequence[int] | None = None,
) -> list[Point]:
    """Label each value; ``counts`` (items behind each rate) adds the sampling-noise floor."""
    rule = rule or AnomalyRule()
    out: list[Point] = [Point(NO_DATA, 0, None)] * len(values)
    history: list[float] = []  # baseline values, oldest first (never spikes)
    run: list[int] = []  # indices of the open out-of-band run, while still undecided
    run_direction = 0
    in_shift = False  # the open run has lasted `persist` buckets: it is a shift

    def close_run(kind: str) -> None:
        for idx in run:
            out[idx] = Point(kind, run_direction, out[idx].band)
        run.clear()

    for i, value in enumerate(values):
        if value is None:
            continue
        band = _band(history[-rule.window :], rule, counts[i] if counts else None)
        direction = 0
        if band is not None:
            direction = 1 if value > band.high else -1 if value < band.low else 0
        if run and direction != run_direction:
            # The undecided run ended: back in band (or flipped side) before `persist`.
            close_run(SPIKE)
        if direction == 0 or (in_shift and direction != run_direction):
            in_shift = False
        if direction == 0:
            out[i] = Point(NORMAL, 0, band)
            history.append(value)
            continue
        run_direction = direction
        if in_shift:
            out[i] = Point(SHIFT, direction, band)
            history.append(value)
            continue
        run.append(i)
        out[i] = Point(PENDING, direction, band)
        if len(run) >= rule.persist:
            history.extend(values[idx] for idx in run)  # type: ignore[misc]
            close_run(SHIFT)
            in_shift = True
    # A run still open at the end stays PENDING: it may yet return within band.
    return out


def _band(history: Sequence[float], rule: AnomalyRule, n: int | None = None) -> Band | None:
    if len(history) < rule.min_history:
        return None
    median = statistics.median(history)
    spread = 1.4826 * statistics.median(abs(v - median) for v in history)
    if n:
        p = min(1.0, max(0.0, median))
        spread = max(spread, math.sqrt(p * (1 - p) / n))
    half = max(rule.k * spread, rule.min_width)
    return Band(median=median, low=median - half, high=median + half)

"""Threshold rules over the 5-minute metrics, and a spike/shift label: pure functions.

Facts in, finding out, no database (the shape of ``governance.rules.decide``): governance's
rollback triggers and the fail-safe monitors both build a :class:`Rule`, read a :class:`Series`
through ``dashboards.selectors.metric_series`` and call :func:`evaluate`; what to do about a
finding (roll back, contain, alert) is theirs. :func:`classify` only labels what a series did.
The exact semantics are in docs/dashboards.md, "5-minute metrics and rules".
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

# --- Buckets and the metric registry ---------------------------------------------------------


@dataclass(frozen=True)
class BucketFigures:
    """One 5-minute bucket's counters, as the fold wrote them (see ``MetricBucket``)."""

    start: dt.datetime
    received: int = 0
    routed: int = 0
    passed: int = 0
    accepted: int = 0
    overridden: int = 0
    escalated: int = 0
    deferred: int = 0
    qa_decided: int = 0
    qa_overridden: int = 0
    sla_breaches: int = 0
    confidence_sum: float = 0.0
    confidence_count: int = 0
    open_queue: int | None = None
    low_confidence: int = 0
    ood: int = 0
    anomalies: int = 0
    fallback: int = 0
    rejected: int = 0
    oldest_waiting_minutes: float | None = None
    # Not a stored counter: the usual number received in a bucket at this hour of day (see
    # ``dashboards.selectors.usual_received``), filled in only for the metrics that need it.
    usual_received: float | None = None


Compute = Callable[[Sequence[BucketFigures], int], float | None]


def _ratio(num: str, *den: str) -> Compute:
    def compute(buckets: Sequence[BucketFigures], minutes: int) -> float | None:
        denominator = sum(getattr(b, name) for b in buckets for name in den)
        if not denominator:
            return None  # a rate of nothing is no data, not 0
        return sum(getattr(b, num) for b in buckets) / denominator

    return compute


def _total(name: str) -> Compute:
    def compute(buckets: Sequence[BucketFigures], minutes: int) -> float | None:
        return float(sum(getattr(b, name) for b in buckets)) if buckets else None

    return compute


def _per_minute(name: str) -> Compute:
    def compute(buckets: Sequence[BucketFigures], minutes: int) -> float | None:
        return (
            sum(getattr(b, name) for b in buckets) / (len(buckets) * minutes) if buckets else None
        )

    return compute


def _last_of(name: str) -> Compute:
    def compute(buckets: Sequence[BucketFigures], minutes: int) -> float | None:
        for bucket in reversed(buckets):
            value = getattr(bucket, name)
            if value is not None:
                return float(value)
        return None

    return compute


_last_sample = _last_of("open_queue")


def _rejected_rate(buckets: Sequence[BucketFigures], minutes: int) -> float | None:
    denominator = sum(b.received + b.rejected for b in buckets)
    return sum(b.rejected for b in buckets) / denominator if denominator else None


# Below this usual level (predictions per 5-minute bucket at this hour of day) silence is not
# judged: a model that hardly sends at this hour cannot be told apart from one that stopped.
SILENCE_MIN_USUAL = 3.0


def _received_vs_usual(buckets: Sequence[BucketFigures], minutes: int) -> float | None:
    """Received over the usual count for this hour of day (1.0 = as usual, 0 = silent).
    No value without a usual level of at least ``SILENCE_MIN_USUAL`` per bucket."""
    usual = [b.usual_received for b in buckets]
    if not buckets or any(u is None or u < SILENCE_MIN_USUAL for u in usual):
        return None
    return sum(b.received for b in buckets) / sum(usual)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MetricDef:
    name: str
    unit: str  # "ratio" (0..1), "items", "per_minute", "confidence", "minutes"
    label: str
    # The figure over a window of buckets that have rows (oldest first) of `minutes` each;
    # None when the window holds nothing to compute it from.
    compute: Compute
    # Smallest spread the spike/shift label assumes (a flat baseline has MAD 0): about the
    # smallest change of this metric worth a word.
    noise_floor: float
    # The selector must fill ``BucketFigures.usual_received`` (one more query).
    needs_usual: bool = False


METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef(
            "override_rate",
            "ratio",
            _("Override rate (overrides / final decisions)"),
            _ratio("overridden", "accepted", "overridden"),
            0.02,
        ),
        MetricDef(
            "open_queue",
            "items",
            _("Open queue (items waiting, sampled by the fold)"),
            _last_sample,
            1.0,
        ),
        MetricDef(
            "routed_rate",
            "ratio",
            _("Routed rate (predictions routed to review / received)"),
            _ratio("routed", "received"),
            0.02,
        ),
        MetricDef(
            "auto_accept_rate",
            "ratio",
            _("Auto-accept rate (predictions passed / received)"),
            _ratio("passed", "received"),
            0.02,
        ),
        MetricDef(
            "sla_breaches",
            "items",
            _("SLA breaches"),
            _total("sla_breaches"),
            1.0,
        ),
        MetricDef(
            "mean_confidence",
            "confidence",
            _("Mean model confidence of predictions received"),
            _ratio("confidence_sum", "confidence_count"),
            0.01,
        ),
        MetricDef(
            "received_per_minute",
            "per_minute",
            _("Predictions received per minute"),
            _per_minute("received"),
            0.5,
        ),
        MetricDef(
            "uncertain_rate",
            "ratio",
            _("Uncertain rate (received with low confidence / received)"),
            _ratio("low_confidence", "received"),
            0.02,
        ),
        MetricDef(
            "ood_rate",
            "ratio",
            _("OOD rate (received above the out-of-distribution limit / received)"),
            _ratio("ood", "received"),
            0.02,
        ),
        MetricDef(
            "rejected_rate",
            "ratio",
            _("Rejected-envelope rate (refused envelopes / received + refused)"),
            _rejected_rate,
            0.02,
        ),
        MetricDef(
            "anomaly_rate",
            "ratio",
            _("Data-quality anomaly rate (routed for a data anomaly / received)"),
            _ratio("anomalies", "received"),
            0.02,
        ),
        MetricDef(
            "oldest_waiting_minutes",
            "minutes",
            _("Oldest waiting item (age in minutes, sampled by the fold)"),
            _last_of("oldest_waiting_minutes"),
            5.0,
        ),
        MetricDef(
            "sla_breach_rate",
            "ratio",
            _("SLA breach rate (breaches / routed)"),
            _ratio("sla_breaches", "routed"),
            0.02,
        ),
        MetricDef(
            "received_vs_usual",
            "ratio",
            _("Traffic against its usual level for this hour of day (0 = silent)"),
            _received_vs_usual,
            0.1,
            needs_usual=True,
        ),
        MetricDef(
            "qa_override_rate",
            "ratio",
            _("Override rate of QA samples (would have been auto-accepted)"),
            _ratio("qa_overridden", "qa_decided"),
            0.02,
        ),
    )
}


def metric_value(name: str, buckets: Sequence[BucketFigures], minutes: int) -> float | None:
    """One named metric over a window of buckets (e.g. the override rate of the last hour is
    overrides / decisions summed over its 12 buckets, not a mean of 12 rates)."""
    return METRICS[name].compute(buckets, minutes)


# --- Series ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    start: dt.datetime
    value: float | None  # None: no data for this bucket


@dataclass(frozen=True)
class Series:
    """One metric per complete bucket, oldest first.

    ``until`` is the time the series was asked for (normally now); ``complete_until`` is how far
    the fold has settled: every point ends at or before it. The gap between the two is the lag.
    """

    metric: str
    bucket_minutes: int
    points: tuple[Point, ...]
    until: dt.datetime
    complete_until: dt.datetime

    @property
    def lag(self) -> dt.timedelta:
        return max(dt.timedelta(0), self.until - self.complete_until)


# --- Threshold rules -------------------------------------------------------------------------

ABOVE = ">"
BELOW = "<"

BREACHED = "breached"
WITHIN = "within_bound"  # some bucket of the window is not past the bound
MISSING = "missing_data"  # a bucket of the window has no value, or buckets are not consecutive
SHORT = "not_enough_data"  # the series holds fewer buckets than the duration needs
STALE = "stale"  # the fold lags `until` by more than the rule tolerates


@dataclass(frozen=True)
class Rule:
    """ "``metric`` ``op`` ``bound`` for ``duration_minutes``", e.g. override_rate > 0.15 for 30.

    ``max_lag_minutes``: a series whose fold lags its ``until`` by more than this is stale and
    never breaches (a stopped fold must not keep firing on old buckets, nor hide silently: the
    finding says ``stale``).
    """

    metric: str
    op: str
    bound: float
    duration_minutes: int
    max_lag_minutes: int = 10

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric: unknown metric {self.metric!r}")
        if self.op not in (ABOVE, BELOW):
            raise ValueError(f"op: must be '>' or '<', not {self.op!r}")
        if isinstance(self.bound, bool) or not math.isfinite(self.bound):
            raise ValueError("bound: must be a finite number")
        if isinstance(self.duration_minutes, bool) or self.duration_minutes < 1:
            raise ValueError("duration_minutes: must be a whole number of minutes, at least 1")
        if self.max_lag_minutes < 0:
            raise ValueError("max_lag_minutes: must not be negative")

    def buckets_needed(self, bucket_minutes: int) -> int:
        """Buckets that make up the duration: rounded up, at least one."""
        return max(1, math.ceil(self.duration_minutes / bucket_minutes))

    def past(self, value: float) -> bool:
        return value > self.bound if self.op == ABOVE else value < self.bound


@dataclass(frozen=True)
class Finding:
    rule: Rule
    breached: bool
    reason: str  # BREACHED, WITHIN, MISSING, SHORT or STALE
    # Start of the run of consecutive past-bound buckets that ends at the newest bucket, as far
    # back as the series reaches (it may be longer than the duration); None when not breached.
    since: dt.datetime | None
    # The buckets judged: the last `buckets_needed` of the series (the values that fired it).
    values: tuple[Point, ...]
    as_of: dt.datetime | None  # end of the newest bucket judged


def evaluate(rule: Rule, series: Series) -> Finding:
    """Breached only when every one of the last ``duration`` worth of complete buckets has a
    value past the bound (strictly), the buckets are consecutive, and the series is fresh."""
    if series.metric != rule.metric:
        raise ValueError(f"series is {series.metric!r}, rule is on {rule.metric!r}")
    width = dt.timedelta(minutes=series.bucket_minutes)
    n = rule.buckets_needed(series.bucket_minutes)
    window = series.points[-n:]
    as_of = window[-1].start + width if window else None

    def finding(breached: bool, reason: str, since: dt.datetime | None = None) -> Finding:
        return Finding(rule, breached, reason, since, tuple(window), as_of)

    if series.lag > dt.timedelta(minutes=rule.max_lag_minutes):
        return finding(False, STALE)
    if len(window) < n:
        return finding(False, SHORT)
    if not _consecutive(window, width) or any(p.value is None for p in window):
        return finding(False, MISSING)
    if not all(rule.past(p.value) for p in window):  # type: ignore[arg-type]
        return finding(False, WITHIN)
    since = window[0].start
    earlier = series.points[:-n]
    newer = window[0]
    for point in reversed(earlier):
        if point.start + width != newer.start or point.value is None or not rule.past(point.value):
            break
        since, newer = point.start, point
    return finding(True, BREACHED, since)


def _consecutive(points: Sequence[Point], width: dt.timedelta) -> bool:
    return all(b.start - a.start == width for a, b in zip(points, points[1:], strict=False))


# --- Spike or shift --------------------------------------------------------------------------

NONE = "none"
SPIKE = "spike"
SHIFT = "shift"
PENDING = "pending"  # out of band now, for fewer than `persist` buckets: too early to say


@dataclass(frozen=True)
class ShapeRule:
    """How :func:`classify` reads a series against its baseline (docs/dashboards.md).

    The band is the baseline's median ± ``k`` robust deviations (1.4826 × MAD, never below the
    caller's floor). A run of out-of-band buckets on one side that is still going after
    ``persist`` buckets is a shift; one that came back in band sooner is a spike.
    """

    k: float = 3.0
    persist: int = 3
    min_baseline: int = 6

    def __post_init__(self) -> None:
        if not (self.k > 0 and self.persist >= 1 and self.min_baseline >= 1):
            raise ValueError("k must be positive, persist and min_baseline at least 1")


@dataclass(frozen=True)
class Shape:
    label: str  # NONE, SPIKE, SHIFT or PENDING
    direction: int  # +1 above the band, -1 below, 0 for NONE
    # SHIFT / PENDING: first bucket of the run still out of band; SPIKE: first bucket of the
    # latest excursion that returned. None for NONE.
    since: dt.datetime | None
    baseline_median: float | None  # None: not enough baseline to judge (label NONE)
    band_low: float | None
    band_high: float | None
    level: float | None  # median of the run (the new level of a shift, the peak's middle)


def classify(
    recent: Sequence[Point],
    baseline: Sequence[Point],
    *,
    rule: ShapeRule | None = None,
    min_spread: float = 0.0,
) -> Shape:
    """Label what ``recent`` did against the level of ``baseline`` (a window before it).

    Points without a value are skipped (they neither break nor extend a run). It only labels:
    acting on a label is the caller's decision.
    """
    rule = rule or ShapeRule()
    history = [p.value for p in baseline if p.value is not None]
    if len(history) < rule.min_baseline:
        return Shape(NONE, 0, None, None, None, None, None)
    median = statistics.median(history)
    mad = statistics.median(abs(v - median) for v in history)
    half = rule.k * max(1.4826 * mad, min_spread)
    low, high = median - half, median + half

    def side(value: float) -> int:
        return 1 if value > high else -1 if value < low else 0

    observed = [p for p in recent if p.value is not None]
    # The run still open at the end: out of band on one side up to the newest value.
    tail: list[Point] = []
    for point in reversed(observed):
        s = side(point.value)  # type: ignore[arg-type]
        if s == 0 or (tail and s != side(tail[0].value)):  # type: ignore[arg-type]
            break
        tail.insert(0, point)
    if tail:
        direction = side(tail[0].value)  # type: ignore[arg-type]
        label = SHIFT if len(tail) >= rule.persist else PENDING
        level = statistics.median(p.value for p in tail)  # type: ignore[misc]
        return Shape(label, direction, tail[0].start, median, low, high, level)
    # Nothing out of band now: the latest excursion, if any, came back.
    excursion: list[Point] = []
    for point in reversed(observed):
        s = side(point.value)  # type: ignore[arg-type]
        if s == 0:
            if excursion:
                break
            continue
        if excursion and s != side(excursion[0].value):  # type: ignore[arg-type]
            break
        excursion.insert(0, point)
    if not excursion:
        return Shape(NONE, 0, None, median, low, high, None)
    direction = side(excursion[0].value)  # type: ignore[arg-type]
    level = statistics.median(p.value for p in excursion)  # type: ignore[misc]
    # An excursion that lasted `persist` buckets or more and then came back is still a spike
    # here: it returned, so the level did not stay changed.
    return Shape(SPIKE, direction, excursion[0].start, median, low, high, level)

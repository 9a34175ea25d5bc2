"""Turn rollup rows into the figures a page shows. Pure: rows in, numbers out."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from .models import COUNTER_FIELDS, TTD_BIN_COUNT, TTD_FIELDS
from .stats import (
    CALIBRATION_BUCKETS,
    NO_DATA,
    PENDING,
    SHIFT,
    SPIKE,
    AnomalyRule,
    Point,
    bucket_floor,
    classify_series,
    percentile_from_bins,
    safe_ratio,
)

# A bucket with fewer predictions than this has no uncertain rate worth classifying.
MIN_BUCKET_VOLUME = 10
RULE = AnomalyRule()


@dataclass(frozen=True)
class Range:
    key: str
    label: Any
    step_minutes: int
    count: int


RANGES: dict[str, Range] = {
    "24h": Range("24h", _("24 hours"), 60, 24),
    "7d": Range("7d", _("7 days"), 6 * 60, 28),
    "30d": Range("30d", _("30 days"), 24 * 60, 30),
}
DEFAULT_RANGE = "24h"


@dataclass(frozen=True)
class Window:
    range: Range
    step: dt.timedelta
    start: dt.datetime  # first shown bucket
    end: dt.datetime  # end of the last (current, partial) bucket
    history_start: dt.datetime  # earlier buckets feed the spike / shift baseline only

    @property
    def fetch_start(self) -> dt.datetime:
        return self.history_start


def window_for(range_key: str, now: dt.datetime, bucket_minutes: int) -> Window:
    spec = RANGES[range_key]
    step_minutes = max(spec.step_minutes, bucket_minutes)
    step = dt.timedelta(minutes=step_minutes)
    end = bucket_floor(now, step_minutes) + step
    start = end - spec.count * step
    return Window(spec, step, start, end, start - RULE.window * step)


@dataclass
class Summary:
    """Totals over a set of rollup rows."""

    ingested: int = 0
    routed: int = 0
    passed: int = 0
    decided: int = 0
    accepted: int = 0
    overridden: int = 0
    escalated: int = 0
    deferred: int = 0
    sla_breaches: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ttd_bins: list[int] = field(default_factory=lambda: [0] * TTD_BIN_COUNT)
    cal_decided: list[int] = field(default_factory=lambda: [0] * CALIBRATION_BUCKETS)
    cal_agreed: list[int] = field(default_factory=lambda: [0] * CALIBRATION_BUCKETS)

    def add(self, row: dict[str, Any]) -> None:
        """Add one rollup row (or a dict of sums); fields it lacks count as zero. In place:
        this runs once per row read, so it avoids building new lists."""
        for name in COUNTER_FIELDS:
            value = row.get(name)
            if value:
                setattr(self, name, getattr(self, name) + value)
        if "ttd_00" in row:
            bins = self.ttd_bins
            for i, name in enumerate(TTD_FIELDS):
                bins[i] += row[name] or 0
        for code, n in (row.get("reasons") or {}).items():
            self.reasons[code] += n
        for mine, key in (
            (self.cal_decided, "calibration_decided"),
            (self.cal_agreed, "calibration_agreed"),
        ):
            for i, value in enumerate((row.get(key) or [])[:CALIBRATION_BUCKETS]):
                mine[i] += value

    @property
    def uncertain_rate(self) -> float | None:
        return safe_ratio(self.routed, self.ingested)

    @property
    def override_rate(self) -> float | None:
        return safe_ratio(self.overridden, self.decided)

    @property
    def p50(self) -> float | None:
        return percentile_from_bins(self.ttd_bins, 0.5)

    @property
    def p90(self) -> float | None:
        return percentile_from_bins(self.ttd_bins, 0.9)


def summarize(rows: Iterable[dict[str, Any]]) -> Summary:
    out = Summary()
    for row in rows:
        out.add(row)
    return out


@dataclass
class BucketFigures:
    start: dt.datetime
    end: dt.datetime
    summary: Summary
    point: Point = field(default_factory=lambda: Point(NO_DATA, 0, None))

    @property
    def rate(self) -> float | None:
        if self.summary.ingested < 1:
            return None
        return self.summary.uncertain_rate


def bucket_series(rows: Sequence[dict[str, Any]], window: Window) -> list[BucketFigures]:
    """Rows (one model, oldest first) grouped into the window's display buckets, with every
    shown bucket classified normal / spike / shift / pending against its trailing baseline."""
    step = window.step
    n_all = int((window.end - window.history_start) / step)
    buckets = [
        BucketFigures(
            window.history_start + i * step, window.history_start + (i + 1) * step, Summary()
        )
        for i in range(n_all)
    ]
    origin, width = window.history_start, step.total_seconds()
    light = bool(rows) and "decided" not in rows[0]
    for row in rows:
        idx = int((row["bucket_start"] - origin).total_seconds() // width)
        if 0 <= idx < n_all:
            summary = buckets[idx].summary
            if light:  # the overview's trend rows: two counters, no need for the full add
                summary.ingested += row["ingested"]
                summary.routed += row["routed"]
            else:
                summary.add(row)
    rates = [
        b.summary.uncertain_rate if b.summary.ingested >= MIN_BUCKET_VOLUME else None
        for b in buckets
    ]
    counts = [b.summary.ingested for b in buckets]
    for bucket, point in zip(buckets, classify_series(rates, RULE, counts), strict=True):
        bucket.point = point
    shown = int((window.start - window.history_start) / step)
    return buckets[shown:]


@dataclass(frozen=True)
class Episode:
    kind: str
    direction: int
    start: dt.datetime
    end: dt.datetime
    peak: float | None


def episodes(series: Sequence[BucketFigures]) -> list[Episode]:
    """Consecutive spike / shift / pending buckets collapsed into one line each, newest first."""
    out: list[Episode] = []
    current: list[BucketFigures] = []

    def flush() -> None:
        if current:
            rates = [b.rate for b in current if b.rate is not None]
            peak = (max(rates) if current[0].point.direction > 0 else min(rates)) if rates else None
            out.append(
                Episode(
                    current[0].point.kind,
                    current[0].point.direction,
                    current[0].start,
                    current[-1].end,
                    peak,
                )
            )
            current.clear()

    for bucket in series:
        kind = bucket.point.kind
        if kind in (SPIKE, SHIFT, PENDING):
            if current and (
                current[-1].point.kind != kind
                or current[-1].point.direction != bucket.point.direction
            ):
                flush()
            current.append(bucket)
        elif kind != NO_DATA:
            flush()
    flush()
    return list(reversed(out))


def status_of(series: Sequence[BucketFigures]) -> dict[str, Any]:
    """One badge for the overview: the most telling episode in the range."""
    found = episodes(series)
    for kind, tone, label in (
        # The fail-safe monitors' words: a spike, a persistent shift.
        (SHIFT, "red", _("Persistent shift")),
        (PENDING, "amber", _("Watch")),
        (SPIKE, "amber", _("Spike")),
    ):
        for ep in found:
            if ep.kind == kind:
                arrow = "↑" if ep.direction > 0 else "↓"
                return {
                    "kind": kind,
                    "tone": tone,
                    "label": label,
                    "arrow": arrow,
                    "since": ep.start,
                }
    return {"kind": "normal", "tone": "green", "label": _("Steady"), "arrow": "", "since": None}


@dataclass(frozen=True)
class CalibrationRow:
    low: float
    high: float
    decided: int
    agreed: int
    share: float | None
    ci_low: float | None
    ci_high: float | None


def wilson(agreed: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson score interval for a share: honest about small buckets."""
    if n <= 0:
        return None
    p = agreed / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def calibration(summary: Summary) -> list[CalibrationRow]:
    out = []
    for i in range(CALIBRATION_BUCKETS):
        n, agreed = summary.cal_decided[i], summary.cal_agreed[i]
        ci = wilson(agreed, n)
        out.append(
            CalibrationRow(
                low=i / CALIBRATION_BUCKETS,
                high=(i + 1) / CALIBRATION_BUCKETS,
                decided=n,
                agreed=agreed,
                share=safe_ratio(agreed, n),
                ci_low=ci[0] if ci else None,
                ci_high=ci[1] if ci else None,
            )
        )
    return out


@dataclass(frozen=True)
class PolicyMark:
    at: dt.datetime
    version: int
    threshold: float | None
    short_hash: str
    in_range: bool


def threshold_of(rules: dict[str, Any] | None) -> float | None:
    if not isinstance(rules, dict):
        return None
    value = rules.get("min_confidence")
    return float(value) if isinstance(value, int | float) else None


def policy_marks(policies: Sequence[Any], window: Window) -> list[PolicyMark]:
    """The version in force at the window's start, then each activation inside the window."""
    before = [p for p in policies if p.activated_at < window.start]
    inside = [p for p in policies if window.start <= p.activated_at < window.end]
    marks = []
    if before:
        p = before[-1]
        if p.deactivated_at is None or p.deactivated_at > window.start:
            marks.append(
                PolicyMark(window.start, p.version, threshold_of(p.rules), p.short_hash, False)
            )
    for p in inside:
        marks.append(
            PolicyMark(p.activated_at, p.version, threshold_of(p.rules), p.short_hash, True)
        )
    return marks

"""What one fold batch adds up before it writes, and which review items count at all."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q

from reviewapp.models import ReviewItem

from ..models import METRIC_BUCKET_MINUTES, TTD_BIN_COUNT, ModelRollup, ModelTotal
from ..stats import CALIBRATION_BUCKETS, bucket_floor


@dataclass
class Delta:
    """Increments for one counters row."""

    scalars: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ttd_bins: list[int] = field(default_factory=lambda: [0] * TTD_BIN_COUNT)
    ttd_sum: float = 0.0
    cal_decided: list[int] = field(default_factory=lambda: [0] * CALIBRATION_BUCKETS)
    cal_agreed: list[int] = field(default_factory=lambda: [0] * CALIBRATION_BUCKETS)

    def apply_to(self, row: ModelRollup | ModelTotal, now: dt.datetime) -> None:
        for name, value in self.scalars.items():
            setattr(row, name, getattr(row, name) + value)
        reasons = dict(row.reasons or {})
        for code, value in self.reasons.items():
            reasons[code] = reasons.get(code, 0) + value
        row.reasons = reasons
        row.ttd_bins = _add_lists(row.ttd_bins, self.ttd_bins)
        row.ttd_sum_seconds = (row.ttd_sum_seconds or 0.0) + self.ttd_sum
        row.calibration_decided = _add_lists(row.calibration_decided, self.cal_decided)
        row.calibration_agreed = _add_lists(row.calibration_agreed, self.cal_agreed)
        row.updated_at = now


def _add_lists(current: list[int] | None, extra: list[int]) -> list[int]:
    base = list(current or [])
    base += [0] * (len(extra) - len(base))
    return [a + b for a, b in zip(base, extra, strict=False)] + base[len(extra) :]


@dataclass
class FineDelta:
    """Increments for one 5-minute :class:`MetricBucket`."""

    scalars: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    confidence_sum: float = 0.0


# Purposes of review items that never count in figures (DESIGN: "gold and qualification items
# never count in dashboards, monitors, ..."). Review items have no `purpose` yet; the day they
# get one, `counted_items` starts excluding these by itself (and a test checks it does).
UNCOUNTED_PURPOSES = ("gold", "qualification")


def counted_items(prefix: str = "") -> Q:
    """The filter that keeps gold/qualification review items out of the figures.

    ``prefix`` is the path from the queried model to the review item (``"item__"`` from a
    decision). An empty ``Q()`` while ``ReviewItem`` has no ``purpose`` field.
    """
    if "purpose" not in {f.name for f in ReviewItem._meta.get_fields()}:
        return Q()
    return ~Q(**{f"{prefix}purpose__in": UNCOUNTED_PURPOSES})


@dataclass
class Batch:
    # Fine buckets that start before this are past retention: not written (a rebuild re-reads
    # old rows, which would only be created to be pruned).
    fine_floor: dt.datetime
    buckets: dict[tuple[int, dt.datetime], Delta] = field(default_factory=dict)
    totals: dict[int, Delta] = field(default_factory=dict)
    reviewer_days: dict[tuple[int, int, dt.date], dict[str, int]] = field(default_factory=dict)
    fine: dict[tuple[int, dt.datetime], FineDelta] = field(default_factory=dict)

    def delta(self, model_id: int, moment: dt.datetime, minutes: int) -> tuple[Delta, Delta]:
        key = (model_id, bucket_floor(moment, minutes))
        return (
            self.buckets.setdefault(key, Delta()),
            self.totals.setdefault(model_id, Delta()),
        )

    def fine_delta(self, model_id: int, moment: dt.datetime) -> FineDelta:
        """The 5-minute delta of a moment, or a throwaway one past retention."""
        start = bucket_floor(moment, METRIC_BUCKET_MINUTES)
        if start < self.fine_floor:
            return FineDelta()
        return self.fine.setdefault((model_id, start), FineDelta())

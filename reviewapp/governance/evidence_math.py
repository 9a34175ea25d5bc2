"""The statistics of change-request evidence: pure functions, numbers in, numbers out.

No database, no Django: :mod:`reviewapp.governance.evidence` reads the traffic and calls these.
Formulas are documented in docs/policies.md ("Evidence").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

# Two-sided 95 %: the 97.5th percentile of the standard normal (1.959963...).
Z95 = NormalDist().inv_cdf(0.975)
BUCKET_WIDTH = 0.05
BUCKETS = 20  # [0, 0.05), [0.05, 0.10), ... [0.95, 1.0] (1.0 falls in the last one)


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when there is no sample at all.

    Unlike the normal approximation it stays inside [0, 1] and is honest at 0 of n, which is
    the usual case for the error rate of confident predictions.
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    if successes <= 0:  # centre and half cancel exactly in theory; keep float noise out
        return 0.0, min(1.0, 2 * centre)
    return max(0.0, centre - half), min(1.0, centre + half)


def samples_needed(successes: int, n: int, max_rate: float, z: float = Z95) -> int | None:
    """How many samples in all would bring the Wilson upper bound to ``max_rate`` or below,
    if the observed rate held: the smallest N with upper(p̂·N, N) ≤ max_rate, p̂ = k / n
    (0 with no sample yet). None when p̂ ≥ max_rate (no amount of samples shows a rate
    tolerable that is observed above the bound) or max_rate is 0.

    With p̂ = 0 this is ⌈z²(1 − r) / r⌉ (189 for r = 0.02).
    """
    p = successes / n if n else 0.0
    if max_rate <= 0 or p >= max_rate:
        return None
    if p == 0:
        # z²/(N + z²) ≤ r  ⇔  N ≥ z²(1 − r)/r; the tiny slack absorbs float rounding.
        return max(1, math.ceil(z * z * (1 - max_rate) / max_rate - 1e-9))
    low, high = 1, 1
    while wilson(p * high, high, z)[1] > max_rate:
        high *= 2
    while low < high:  # the upper bound falls as N grows at a fixed p̂ < r
        mid = (low + high) // 2
        if wilson(p * mid, mid, z)[1] <= max_rate:
            high = mid
        else:
            low = mid + 1
    return low


def bucket_of(confidence: float) -> int:
    """Index of the 0.05-wide confidence bucket; 1.0 belongs to the last one."""
    return min(BUCKETS - 1, max(0, int(math.floor(confidence / BUCKET_WIDTH + 1e-9))))


def bucket_floor(index: int) -> float:
    return round(index * BUCKET_WIDTH, 2)


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass(frozen=True)
class Margin:
    # The lowest bucket edge t such that the QA-sampled predictions at or above t have a Wilson
    # upper bound ≤ the tolerated rate, scanning down from the top without crossing it.
    lowest_safe_threshold: float | None
    # The next edge down, where the upper bound crossed the tolerated rate (None: it never
    # did down to the lowest sampled confidence).
    crossing_confidence: float | None
    # threshold − lowest_safe_threshold: positive is room to spare, negative is past it.
    margin: float | None


def safety_margin(
    buckets: Sequence[tuple[int, int]], *, threshold: float, max_rate: float, z: float = Z95
) -> Margin:
    """``buckets[i] = (samples, overrides)`` of confidence bucket i.

    The estimate at a threshold t is the pooled override rate of the samples at or above t
    (what auto-accepting from t would let through). Edges are scanned from the top down,
    skipping edges whose tail has no sample and stopping below the lowest sampled bucket (QA
    samples say nothing about confidences the active policy never auto-accepted).
    """
    sampled = [i for i, (n, _) in enumerate(buckets) if n]
    if not sampled:
        return Margin(None, None, None)
    lowest, crossing = None, None
    n_tail = k_tail = 0
    for i in range(len(buckets) - 1, min(sampled) - 1, -1):
        n_tail += buckets[i][0]
        k_tail += buckets[i][1]
        if not n_tail:
            continue
        if wilson(k_tail, n_tail, z)[1] <= max_rate:
            lowest = bucket_floor(i)
        elif lowest is not None:
            crossing = bucket_floor(i)
            break
    margin = None if lowest is None else round(threshold - lowest, 6)
    return Margin(lowest, crossing, margin)


def sla_breaches(
    arrivals: Sequence[int], *, capacity_per_day: float, sla_minutes: float
) -> list[int]:
    """Estimated SLA breaches per day of a first-in-first-out queue served at a steady rate.

    A fluid estimate: each day's arrivals and the reviewers' throughput (``capacity_per_day``)
    are spread evenly over the day, and what is not reviewed carries over. Reviewers at rate
    c per day clear T = c · sla / 1440 items within one SLA, so of the backlog B_d left at the
    end of day d (B_d = max(0, B_{d−1} + a_d − c)) the newest B_d − T wait past their deadline;
    those that arrived that day are the day's new breaches: min(a_d, max(0, B_d − T)).
    It ignores peaks within a day and reviewer shifts, so bursty traffic breaches more.
    """
    tolerated = capacity_per_day * sla_minutes / 1440
    backlog = 0.0
    out = []
    for arrived in arrivals:
        backlog = max(0.0, backlog + arrived - capacity_per_day)
        out.append(round(min(arrived, max(0.0, backlog - tolerated))))
    return out

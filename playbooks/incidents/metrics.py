"""Incident metrics: how fast incidents are detected, contained and resolved, what they were
about, what they cost in wrongly served predictions, which action items are overdue and which
failure modes came back after their post-mortem's actions were done.

The computations are pure (frozen rows in, frozen figures out, no database), so a test can
check them against arithmetic done by hand; :func:`metrics_for` loads the rows a person may
see in a handful of queries and hands them over.

Every figure carries ``n``, the number of incidents behind it: a mean of three incidents is
shown as such and flagged as few (``n < FEW``). Cancelled incidents are left out of every
figure and counted; an incident without an impact start is left out of time to detect (its
detection delay is unknown, not zero) and counted; one not yet contained or resolved is left
out of that duration and counted.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone

from reviewapp.core import clock
from reviewapp.models import Decision
from reviewapp.selectors.purposes import correction_q

from ..models import ActionItem, Incident, IncidentFailureMode, IncidentItem, IncidentModel
from .selectors import incidents_visible_to

# Fewer incidents than this behind a figure: shown, but flagged as too few to lean on.
FEW = 5
# A range of detections shorter than this is bucketed by week, a longer one by month.
WEEKLY_UP_TO = dt.timedelta(days=120)
SEVERITIES = ("S1", "S2", "S3", "S4")
CANCELLED = Incident.Status.CANCELLED

# The three durations: (key, start milestone, end milestone).
DURATIONS = (
    ("detect", "impact_started_at", "detected_at"),
    ("contain", "detected_at", "contained_at"),
    ("resolve", "detected_at", "remediated_at"),
)


# -- pure statistics --------------------------------------------------------------------------


def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean; None for no values (never 0: "no data" is not "instant")."""
    return sum(values) / len(values) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least ``q`` % of the values at
    or below it, i.e. the value of rank ⌈q/100 · n⌉ in ascending order. Always one of the
    observed durations (no interpolation between two incidents that did not happen), and
    defined for one value. None for no values."""
    if not values:
        return None
    if not 0 < q <= 100:
        raise ValueError("q is a percentage in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class Figure:
    """Mean and p90 of a duration in seconds over ``n`` incidents."""

    mean: float | None
    p90: float | None
    n: int

    @property
    def few(self) -> bool:
        return self.n < FEW

    @classmethod
    def of(cls, values: Sequence[float]) -> Figure:
        return cls(mean=mean(values), p90=percentile(values, 90), n=len(values))


# -- rows and figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentRow:
    pk: int
    title: str
    severity: str
    status: str
    detected_at: dt.datetime
    impact_started_at: dt.datetime | None = None
    contained_at: dt.datetime | None = None
    remediated_at: dt.datetime | None = None
    failure_modes: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        return f"INC-{self.pk}"

    def seconds(self, start: str, end: str) -> float | None:
        a, b = getattr(self, start), getattr(self, end)
        if a is None or b is None:
            return None
        return (b - a).total_seconds()


@dataclass(frozen=True)
class Durations:
    detect: Figure
    contain: Figure
    resolve: Figure
    # Left out, by reason: without_impact_start (detect), not_contained, not_resolved.
    excluded: dict[str, int] = field(default_factory=dict)

    def as_list(self) -> list[tuple[str, Figure]]:
        return [("detect", self.detect), ("contain", self.contain), ("resolve", self.resolve)]


def durations(rows: Iterable[IncidentRow]) -> Durations:
    """Time to detect (impact start → detection), to contain (detection → containment) and to
    resolve (detection → remediated) of the incidents that are not cancelled."""
    values: dict[str, list[float]] = {key: [] for key, _a, _b in DURATIONS}
    excluded = {"without_impact_start": 0, "not_contained": 0, "not_resolved": 0}
    missing = {"detect": "without_impact_start", "contain": "not_contained",
               "resolve": "not_resolved"}  # fmt: skip
    for row in rows:
        if row.status == CANCELLED:
            continue
        for key, start, end in DURATIONS:
            seconds = row.seconds(start, end)
            if seconds is None:
                excluded[missing[key]] += 1
            else:
                values[key].append(seconds)
    return Durations(
        detect=Figure.of(values["detect"]),
        contain=Figure.of(values["contain"]),
        resolve=Figure.of(values["resolve"]),
        excluded=excluded,
    )


def period_for(rows: Sequence[IncidentRow], now: dt.datetime) -> str:
    """Weeks for a short range of detections, months for a longer one."""
    if not rows:
        return "week"
    first = min(r.detected_at for r in rows)
    return "week" if now - first <= WEEKLY_UP_TO else "month"


def bucket_start(moment: dt.datetime, period: str, zone: dt.tzinfo) -> dt.date:
    """The first day (in ``zone``) of the week (Monday) or month holding ``moment``."""
    day = moment.astimezone(zone).date()
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(start: dt.date, period: str) -> dt.date:
    if period == "week":
        return start + dt.timedelta(days=7)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class Bucket:
    start: dt.date
    n: int
    figures: Durations


def over_time(
    rows: Sequence[IncidentRow], *, period: str, zone: dt.tzinfo, until: dt.datetime
) -> list[Bucket]:
    """The durations per week or month of detection, from the first incident's bucket to
    ``until``'s, with empty buckets kept (a quiet month is a result too)."""
    kept = [r for r in rows if r.status != CANCELLED]
    if not kept:
        return []
    groups: dict[dt.date, list[IncidentRow]] = defaultdict(list)
    for r in kept:
        groups[bucket_start(r.detected_at, period, zone)].append(r)
    out: list[Bucket] = []
    start = min(groups)
    last = max(max(groups), bucket_start(until, period, zone))
    while start <= last:
        inside = groups.get(start, [])
        out.append(Bucket(start=start, n=len(inside), figures=durations(inside)))
        start = next_bucket(start, period)
    return out


def by_severity(rows: Iterable[IncidentRow]) -> list[tuple[str, int]]:
    counts = Counter(r.severity for r in rows if r.status != CANCELLED)
    return [(s, counts.get(s, 0)) for s in SEVERITIES]


def by_failure_mode(rows: Iterable[IncidentRow]) -> tuple[list[tuple[str, int]], int]:
    """Incidents per failure mode (an incident of two modes counts under each), most first,
    and the number of incidents typed by none."""
    counts: Counter[str] = Counter()
    untyped = 0
    for r in rows:
        if r.status == CANCELLED:
            continue
        if not r.failure_modes:
            untyped += 1
        counts.update(set(r.failure_modes))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])), untyped


# -- recurrence -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionSummary:
    """An incident's action items, cancelled ones left out: how many, how many done, and when
    the last was done."""

    total: int
    done: int
    last_done_at: dt.datetime | None

    @property
    def all_done(self) -> bool:
        return self.total > 0 and self.done == self.total and self.last_done_at is not None


@dataclass(frozen=True)
class Recurrence:
    failure_mode: str
    earlier: IncidentRow
    later: IncidentRow
    actions_done_at: dt.datetime


def recurrences(rows: Sequence[IncidentRow], actions: dict[int, ActionSummary]) -> list[Recurrence]:
    """Failure modes that came back after their post-mortem's actions were done: incident B on
    failure mode F, detected after an earlier incident A on F whose action items were all done,
    the last of them before B's detection. One entry per (F, B), naming the latest such A.
    Cancelled incidents take no part."""
    on: dict[str, list[IncidentRow]] = defaultdict(list)
    for r in rows:
        if r.status != CANCELLED:
            for fm in r.failure_modes:
                on[fm].append(r)
    found: list[Recurrence] = []
    for fm, incidents in on.items():
        incidents.sort(key=lambda r: (r.detected_at, r.pk))
        for i, later in enumerate(incidents):
            for earlier in reversed(incidents[:i]):
                summary = actions.get(earlier.pk)
                if (
                    earlier.detected_at < later.detected_at
                    and summary is not None
                    and summary.all_done
                    and summary.last_done_at < later.detected_at
                ):
                    found.append(Recurrence(fm, earlier, later, summary.last_done_at))
                    break
    return sorted(found, key=lambda r: (r.later.detected_at, r.failure_mode), reverse=True)


# -- what the page and the API show ----------------------------------------------------------


@dataclass(frozen=True)
class WronglyServed:
    incident: IncidentRow
    queued: int
    rechecked: int
    overturned: int


@dataclass(frozen=True)
class OverdueAction:
    pk: int
    title: str
    kind: str
    owner: str
    due_on: dt.date
    days_overdue: int
    incident: IncidentRow


@dataclass(frozen=True)
class Metrics:
    model: str
    period: str
    incidents: int
    cancelled: int
    durations: Durations
    over_time: list[Bucket]
    by_severity: list[tuple[str, int]]
    by_failure_mode: list[tuple[str, int]]
    untyped: int
    failure_mode_titles: dict[str, str]
    wrongly_served: list[WronglyServed]
    overdue: list[OverdueAction]
    recurrences: list[Recurrence]

    @property
    def overturned_total(self) -> int:
        return sum(w.overturned for w in self.wrongly_served)

    @property
    def overturned_per_incident(self) -> Figure:
        """Overturned predictions per incident that queued a re-review."""
        values = [float(w.overturned) for w in self.wrongly_served]
        return Figure.of(values)


def wrongly_served(rows: dict[int, IncidentRow], ids: Any) -> list[WronglyServed]:
    """Per incident with re-reviews: how many predictions were queued for one, how many have a
    final decision, and how many were overturned (the reviewer overrode what routing let pass:
    core's correction rule, ``purposes.correction_q``). Undone decisions do not count."""
    decided = Decision.objects.filter(
        item=OuterRef("review_item_id"),
        action__in=Decision.FINAL_ACTIONS,
        undone_at__isnull=True,
    )
    overturned = Decision.objects.filter(
        correction_q(), item=OuterRef("review_item_id"), undone_at__isnull=True
    )
    counts = (
        IncidentItem.objects.filter(incident_id__in=ids, kind=IncidentItem.Kind.RECHECK)
        .values("incident_id")
        .annotate(
            queued=Count("id"),
            rechecked=Count("id", filter=Q(Exists(decided))),
            overturned=Count("id", filter=Q(Exists(overturned))),
        )
        .order_by()
    )
    out = [
        WronglyServed(rows[c["incident_id"]], c["queued"], c["rechecked"], c["overturned"])
        for c in counts
        if c["incident_id"] in rows
    ]
    return sorted(out, key=lambda w: (-w.overturned, -w.incident.pk))


def _action_summaries(ids: Any) -> dict[int, ActionSummary]:
    found = (
        ActionItem.objects.filter(incident_id__in=ids)
        .exclude(status=ActionItem.Status.CANCELLED)
        .values("incident_id")
        .annotate(
            total=Count("id"),
            done=Count("id", filter=Q(status=ActionItem.Status.DONE)),
            last_done_at=Max("done_at", filter=Q(status=ActionItem.Status.DONE)),
        )
        .order_by()
    )
    return {
        a["incident_id"]: ActionSummary(a["total"], a["done"], a["last_done_at"]) for a in found
    }


def _overdue(rows: dict[int, IncidentRow], ids: Any, today: dt.date) -> list[OverdueAction]:
    items = (
        ActionItem.objects.filter(
            incident_id__in=ids, status=ActionItem.Status.OPEN, due_on__lt=today
        )
        .select_related("owner")
        .order_by("due_on", "id")
    )
    return [
        OverdueAction(
            pk=a.pk,
            title=a.title,
            kind=a.get_kind_display(),
            owner=a.owner.get_username(),
            due_on=a.due_on,
            days_overdue=(today - a.due_on).days,
            incident=rows[a.incident_id],
        )  # fmt: skip
        for a in items
        if a.incident_id in rows
    ]


def metrics_for(user: Any, *, model_id: int | None = None, model_slug: str = "") -> Metrics:
    """Every figure over the incidents ``user`` may read (on one model when given), in five
    queries whatever the number of incidents (besides the role check): the incidents, their
    failure modes, the re-review counts, the overdue action items and every incident's action
    items' summary."""
    qs = incidents_visible_to(user)
    if model_id is not None:
        qs = qs.filter(
            Exists(IncidentModel.objects.filter(incident=OuterRef("pk"), model_id=model_id))
        )
    raw = list(
        qs.order_by("detected_at", "id").values(
            "pk",
            "title",
            "severity",
            "status",
            "detected_at",
            "impact_started_at",
            "contained_at",
            "remediated_at",
        )  # fmt: skip
    )
    ids = [r["pk"] for r in raw]
    modes: dict[int, list[str]] = defaultdict(list)
    titles: dict[str, str] = {}
    for link in (
        IncidentFailureMode.objects.filter(incident_id__in=ids)
        .values("incident_id", "failure_mode__slug", "failure_mode__title")
        .order_by("failure_mode__slug")
    ):
        modes[link["incident_id"]].append(link["failure_mode__slug"])
        titles[link["failure_mode__slug"]] = link["failure_mode__title"]
    rows = [IncidentRow(**r, failure_modes=tuple(modes.get(r["pk"], ()))) for r in raw]
    by_pk = {r.pk: r for r in rows}
    now = clock.now()
    zone = timezone.get_current_timezone()
    period = period_for(rows, now)
    fm_counts, untyped = by_failure_mode(rows)
    return Metrics(
        model=model_slug,
        period=period,
        incidents=sum(1 for r in rows if r.status != CANCELLED),
        cancelled=sum(1 for r in rows if r.status == CANCELLED),
        durations=durations(rows),
        over_time=over_time(rows, period=period, zone=zone, until=now),
        by_severity=by_severity(rows),
        by_failure_mode=fm_counts,
        untyped=untyped,
        failure_mode_titles=titles,
        wrongly_served=wrongly_served(by_pk, ids) if ids else [],
        overdue=_overdue(by_pk, ids, now.astimezone(zone).date()) if ids else [],
        recurrences=recurrences(rows, _action_summaries(ids)) if ids else [],
    )

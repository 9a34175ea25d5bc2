"""A reviewer's scorecard: how often they are right, how they compare with their peers, how
fast they go, and whether they accept what the model says when it is wrong.

Read by the leads (every reviewer) and by each reviewer (their own only: the views answer 404
for anyone else's). Figures carry their n and a 95% interval (``agreement.Figure``).

- **Gold accuracy**: scored gold servings, correct / (correct + wrong); live gold and
  qualification sets apart. Escalated gold is neither.
- **Agreement with peers**: of the closed blind second-review pairs they were in (first or
  second reviewer), the share where the two labels matched.
- **Override share vs peers**: their overrides / their final decisions on live items (every
  purpose but gold and qualification), against the pooled share of everyone else on the same
  models in the window.
- **Seconds per item**: median and 10th percentile of decided_at − claimed_at over their
  final decisions on live items.
- **Rubber-stamp index**: of the cases where the model is known to have been wrong (an
  adversarial gold item served to them; an adjudicated disagreement whose final label differs
  from the model's and in which they were one of the two reviewers), the share where their
  label equalled the model's. 0 is best; 1 means they accepted every time.
- **Weekly trend**: the last 8 weeks (Monday 00:00 UTC): decisions, gold accuracy, median
  seconds, override share.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet

from reviewapp.core import clock, roles
from reviewapp.models import Decision, PoolMembership
from reviewapp.selectors.purposes import UNCOUNTED
from reviewapp.selectors.visibility import is_service

from .. import agreement as stats
from ..models import GoldServing, QualityAlert, SecondReview
from .agreement import CLOSED_PAIR, DEFAULT_DAYS, FINAL, adjudication_decision_ids, window_start

A = Decision.Action
R = GoldServing.Result
WEEKS = 8
MASKING_MODULE = "reviewapp.quality.selectors.masking"


def may_read_all_scorecards(user: Any) -> bool:
    return roles.has_role(user, roles.LEAD)


def may_read_overview(user: Any) -> bool:
    return roles.has_role(user, roles.LEAD, roles.ENGINEER, roles.COMMITTEE)


def may_read_scorecard(viewer: Any, reviewer_id: int) -> bool:
    """Leads read every scorecard; anyone else only their own."""
    if is_service(viewer) or not getattr(viewer, "is_authenticated", False):
        return False
    return viewer.pk == reviewer_id or may_read_all_scorecards(viewer)


def reviewers() -> QuerySet:
    """People who review: the reviewer group or a pool membership."""
    User = get_user_model()
    return (
        User.objects.filter(
            Q(groups__name=roles.REVIEWER) | Q(pool_memberships__isnull=False), is_active=True
        )
        .distinct()
        .order_by("username")
    )


def _live_finals(since: dt.datetime) -> QuerySet[Decision]:
    """Final, not undone decisions on live items, without leads' adjudicated answers."""
    return (
        Decision.objects.filter(decided_at__gte=since, action__in=FINAL, undone_at__isnull=True)
        .exclude(item__purpose__in=list(UNCOUNTED))
        .exclude(id__in=adjudication_decision_ids())
    )


# --- the figures, each from rows in Python (pure once the rows are read) ----------------------
def gold_accuracy(servings: list[tuple[str, bool]]) -> dict[str, stats.Figure]:
    """``servings``: (result, qualification) of scored servings."""
    out = {}
    for key, qual in (("gold", False), ("qualification", True)):
        scored = [r for r, q in servings if q is qual and r in (R.CORRECT, R.WRONG)]
        out[key] = stats.wilson(sum(1 for r in scored if r == R.CORRECT), len(scored))
    return out


def rubber_stamp(cases: list[bool]) -> stats.Figure:
    """``cases``: one per known-wrong model answer, True when the reviewer accepted it."""
    return stats.wilson(sum(1 for c in cases if c), len(cases))


def seconds(rows: list[tuple[dt.datetime, dt.datetime | None]]) -> list[float]:
    return [(decided - claimed).total_seconds() for decided, claimed in rows if claimed]


@dataclass
class Scorecard:
    reviewer: Any
    since: dt.datetime
    days: int
    model_slug: str | None
    pools: list[str]
    decisions: int
    gold: stats.Figure
    qualification: stats.Figure
    peer_agreement: stats.Figure
    override_share: stats.Figure
    peer_override_share: stats.Figure
    median_seconds: float | None
    p10_seconds: float | None
    timed: int
    rubber_stamp: stats.Figure
    rubber_stamp_gold: int
    rubber_stamp_adjudicated: int
    open_alerts: int
    weeks: list[dict[str, Any]] = field(default_factory=list)
    automation_bias: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reviewer": {"id": self.reviewer.pk, "username": self.reviewer.get_username()},
            "since": self.since,
            "days": self.days,
            "model": self.model_slug,
            "pools": self.pools,
            "decisions": self.decisions,
            "gold_accuracy": self.gold.as_dict(),
            "qualification_accuracy": self.qualification.as_dict(),
            "peer_agreement": self.peer_agreement.as_dict(),
            "override_share": self.override_share.as_dict(),
            "peer_override_share": self.peer_override_share.as_dict(),
            "median_seconds": self.median_seconds,
            "p10_seconds": self.p10_seconds,
            "timed_decisions": self.timed,
            "rubber_stamp_index": {
                **self.rubber_stamp.as_dict(),
                "from_gold": self.rubber_stamp_gold,
                "from_adjudications": self.rubber_stamp_adjudicated,
            },
            "open_alerts": self.open_alerts,
            "weeks": [{**w, "gold_accuracy": w["gold_accuracy"].as_dict()} for w in self.weeks],
        }


def _week_start(moment: dt.datetime) -> dt.datetime:
    day = moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - dt.timedelta(days=day.weekday())


def weekly_trend(
    *,
    decisions: list[tuple[str, dt.datetime, dt.datetime | None]],
    servings: list[tuple[str, dt.datetime]],
    now: dt.datetime,
    weeks: int = WEEKS,
) -> list[dict[str, Any]]:
    """``decisions``: (action, decided_at, claimed_at) of live finals; ``servings``: (result,
    scored_at) of scored live gold. Oldest week first."""
    first = _week_start(now) - dt.timedelta(weeks=weeks - 1)
    starts = [first + dt.timedelta(weeks=i) for i in range(weeks)]
    by_week: dict[dt.datetime, list] = defaultdict(list)
    for action, decided, claimed in decisions:
        by_week[_week_start(decided)].append((action, decided, claimed))
    gold_by_week: dict[dt.datetime, list[str]] = defaultdict(list)
    for result, scored in servings:
        gold_by_week[_week_start(scored)].append(result)
    out = []
    for start in starts:
        rows = by_week.get(start, [])
        secs = seconds([(d, c) for _a, d, c in rows])
        results = [r for r in gold_by_week.get(start, []) if r in (R.CORRECT, R.WRONG)]
        overrides = sum(1 for a, _d, _c in rows if a == A.OVERRIDE)
        out.append(
            {
                "week": start.date(),
                "decisions": len(rows),
                "gold_accuracy": stats.wilson(
                    sum(1 for r in results if r == R.CORRECT), len(results)
                ),
                "median_seconds": statistics.median(secs) if secs else None,
                "override_share": overrides / len(rows) if rows else None,
            }
        )
    return out


# --- reading the rows ------------------------------------------------------------------------
def _rubber_stamp_cases(
    *, reviewer_id: int, since: dt.datetime, model_id: int | None
) -> tuple[list[bool], int, int]:
    gold = GoldServing.objects.filter(
        reviewer_id=reviewer_id,
        adversarial=True,
        scored_at__gte=since,
        result__in=[R.CORRECT, R.WRONG, R.ESCALATED],
    )
    if model_id is not None:
        gold = gold.filter(model_id=model_id)
    gold_cases = [
        bool(answered) and answered == model_label
        for answered, model_label in gold.values_list("answered_label", "gold__model_label")
    ]
    adjudicated = SecondReview.objects.filter(
        status=SecondReview.Status.ADJUDICATED,
        adjudicated_at__gte=since,
        second_decision__isnull=False,
    ).filter(
        Q(first_decision__reviewer_id=reviewer_id) | Q(second_decision__reviewer_id=reviewer_id)
    )
    if model_id is not None:
        adjudicated = adjudicated.filter(model_id=model_id)
    adj_cases = []
    for sr in adjudicated.select_related("first_decision", "second_decision"):
        model_label = sr.first_decision.predicted_label
        if not sr.final_label or sr.final_label == model_label:
            continue  # the model was right (or no answer): not a known-wrong case
        mine = (
            sr.first_decision
            if sr.first_decision.reviewer_id == reviewer_id
            else sr.second_decision
        )
        adj_cases.append(mine.final_label == model_label)
    return gold_cases + adj_cases, len(gold_cases), len(adj_cases)


def _peer_agreement(*, reviewer_id: int, since: dt.datetime, model_id: int | None) -> stats.Figure:
    pairs = SecondReview.objects.filter(
        status__in=CLOSED_PAIR,
        second_decision__isnull=False,
        second_decision__decided_at__gte=since,
        first_decision__action__in=FINAL,
        second_decision__action__in=FINAL,
    ).filter(
        Q(first_decision__reviewer_id=reviewer_id) | Q(second_decision__reviewer_id=reviewer_id)
    )
    if model_id is not None:
        pairs = pairs.filter(model_id=model_id)
    labels = list(pairs.values_list("first_decision__final_label", "second_decision__final_label"))
    return stats.wilson(sum(1 for a, b in labels if a == b), len(labels))


def automation_bias_for(reviewer_id: int) -> dict[str, Any] | None:
    """The masking part's figures for this reviewer, when that part is installed.

    Written in parallel with this module (issue 17): once both are merged this becomes a
    direct import of ``reviewapp.quality.selectors.masking.automation_bias``."""
    if importlib.util.find_spec(MASKING_MODULE) is None:
        return None
    masking = importlib.import_module(MASKING_MODULE)
    return masking.automation_bias(reviewer_id=reviewer_id)


def scorecard(
    *,
    reviewer: Any,
    days: int = DEFAULT_DAYS,
    model_id: int | None = None,
    model_slug: str | None = None,
    now: dt.datetime | None = None,
    with_automation_bias: bool = True,
) -> Scorecard:
    now = now or clock.now()
    since = window_start(days, now)
    trend_since = min(since, _week_start(now) - dt.timedelta(weeks=WEEKS - 1))
    live = _live_finals(trend_since)
    if model_id is not None:
        live = live.filter(model_id=model_id)
    mine_all = list(
        live.filter(reviewer_id=reviewer.pk).values_list(
            "action", "decided_at", "claimed_at", "model_id"
        )
    )
    mine = [r for r in mine_all if r[1] >= since]
    my_models = {m for *_x, m in mine}
    peers = (
        _live_finals(since)
        .filter(model_id__in=my_models)
        .exclude(reviewer_id=reviewer.pk)
        .aggregate(n=Count("id"), overrides=Count("id", filter=Q(action=A.OVERRIDE)))
    )
    servings_qs = GoldServing.objects.filter(reviewer_id=reviewer.pk, scored_at__gte=trend_since)
    if model_id is not None:
        servings_qs = servings_qs.filter(model_id=model_id)
    servings = list(servings_qs.values_list("result", "qualification", "scored_at"))
    accuracy = gold_accuracy([(r, q) for r, q, s in servings if s >= since])
    secs = seconds([(d, c) for _a, d, c, _m in mine])
    cases, n_gold, n_adj = _rubber_stamp_cases(
        reviewer_id=reviewer.pk, since=since, model_id=model_id
    )
    alerts = QualityAlert.objects.filter(reviewer_id=reviewer.pk, status=QualityAlert.Status.OPEN)
    if model_id is not None:
        alerts = alerts.filter(model_id=model_id)
    return Scorecard(
        reviewer=reviewer,
        since=since,
        days=days,
        model_slug=model_slug,
        pools=list(
            PoolMembership.objects.filter(user_id=reviewer.pk)
            .order_by("model__slug")
            .values_list("model__slug", flat=True)
        ),
        decisions=len(mine),
        gold=accuracy["gold"],
        qualification=accuracy["qualification"],
        peer_agreement=_peer_agreement(reviewer_id=reviewer.pk, since=since, model_id=model_id),
        override_share=stats.wilson(sum(1 for a, *_r in mine if a == A.OVERRIDE), len(mine)),
        peer_override_share=stats.wilson(peers["overrides"], peers["n"]),
        median_seconds=statistics.median(secs) if secs else None,
        p10_seconds=stats.percentile(secs, 10),
        timed=len(secs),
        rubber_stamp=rubber_stamp(cases),
        rubber_stamp_gold=n_gold,
        rubber_stamp_adjudicated=n_adj,
        open_alerts=alerts.count(),
        weeks=weekly_trend(
            decisions=[(a, d, c) for a, d, c, _m in mine_all],
            servings=[(r, s) for r, q, s in servings if not q],
            now=now,
        ),
        automation_bias=automation_bias_for(reviewer.pk) if with_automation_bias else None,
    )


def overview_rows(*, days: int = DEFAULT_DAYS) -> list[Scorecard]:
    """Every reviewer's scorecard for the leads' overview (no trend-heavy extras)."""
    return [scorecard(reviewer=r, days=days, with_automation_bias=False) for r in reviewers()]

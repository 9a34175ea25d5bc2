"""A reviewer's own recent decisions and their day's figures beside their team's.

"Today" is the reviewer's day in their own time zone (the active one). The team is everyone
who decided items of the same pools (the models the reviewer reads) today, the reviewer
included. Undone decisions count nowhere. Gold and qualification items test the reviewer, not
the model: other people's stay out of the figures as they stay out of dashboards, but one's
own count like any item one decided, or the count beside one's list of decisions would tell a
reviewer which of them were gold (docs/quality/blind.md).
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from reviewapp.core import clock
from reviewapp.models import Decision
from reviewapp.selectors.purposes import UNCOUNTED
from reviewapp.selectors.visibility import decisions_visible_to

A = Decision.Action


def my_decisions(*, user: Any) -> QuerySet[Decision]:
    """The user's decisions, newest first (``decision_reviewer_time_idx``)."""
    return (
        decisions_visible_to(user, Decision.objects.filter(reviewer=user))
        .select_related("item", "model", "undone_by")
        .order_by("-decided_at", "-id")
    )


@dataclass(frozen=True)
class Figures:
    items: int  # decisions that were not undone
    median_seconds: float | None  # claim to decision; None without a timed decision
    overrides: int
    finals: int  # accepts + overrides

    @property
    def override_share(self) -> float | None:
        return self.overrides / self.finals if self.finals else None


def _figures(rows: list[tuple[Any, ...]]) -> Figures:
    seconds = [(decided - claimed).total_seconds() for _r, _a, decided, claimed in rows if claimed]
    finals = [a for _r, a, _d, _c in rows if a in (A.ACCEPT, A.OVERRIDE)]
    return Figures(
        items=len(rows),
        median_seconds=statistics.median(seconds) if seconds else None,
        overrides=sum(1 for a in finals if a == A.OVERRIDE),
        finals=len(finals),
    )


def day_start(now: dt.datetime | None = None) -> dt.datetime:
    """Midnight of today in the active (the user's) time zone."""
    local = timezone.localtime(now or clock.now())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def day_figures(*, user: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    """The user's figures for today and their team's (the same pools), from one query."""
    since = day_start(now)
    rows = list(
        decisions_visible_to(
            user,
            Decision.objects.filter(decided_at__gte=since, undone_at__isnull=True).exclude(
                Q(item__purpose__in=list(UNCOUNTED)) & ~Q(reviewer_id=user.pk)
            ),
        ).values_list("reviewer_id", "action", "decided_at", "claimed_at")
    )
    mine = [r for r in rows if r[0] == user.pk]
    return {
        "since": since,
        "mine": _figures(mine),
        "team": _figures(rows),
        "team_size": len({r[0] for r in rows}),
    }

"""Reads of the review queue: who sees which models, the filtered list, counts, pools."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet

from reviewapp.core import clock, roles
from reviewapp.core.params import PAGE_MAX, ParamError, parse_int
from reviewapp.governance.rules import QA_SAMPLE, REASON_LABELS
from reviewapp.models import (
    OPEN_STATUSES,
    PER_REVIEWER_PURPOSES,
    QUEUE_ORDER,
    MLModel,
    PoolMembership,
    QueueCountSnapshot,
    ReviewItem,
)
from reviewapp.selectors.purposes import BLIND
from reviewapp.selectors.visibility import (  # noqa: F401  (visible_model_ids: re-exported)
    review_items_visible_to,
    sees_all,
    visible_model_ids,
)

S = ReviewItem.Status
STATUS_CHOICES = ["open", *S.values, "all"]
PRIORITY_BANDS = {"high": (70, 101), "medium": (40, 70), "low": (0, 40)}
SLA_STATES = ["breached", "near", "ok"]
SORTS = {
    # The order "Start reviewing" claims in (models.QUEUE_ORDER).
    "priority": QUEUE_ORDER,
    "sla": ("sla_due_at", "id"),
    "newest": ("-id",),
    "oldest": ("id",),
}
PAGE_SIZE = 30


@dataclass
class QueueFilters:
    model: str = ""
    status: str = "open"
    priority: str = ""
    sla: str = ""
    reason: str = ""
    assignee: str = ""
    sort: str = "priority"
    page: int = 1
    errors: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_query(cls, data: Any, *, models: dict[str, MLModel]) -> QueueFilters:
        f = cls()
        errors: dict[str, list[str]] = {}

        def pick(name: str, allowed: list[str] | None, default: str = "") -> str:
            value = (data.get(name) or default).strip()
            if value and allowed is not None and value not in allowed:
                errors.setdefault(name, []).append(f"Unknown value '{value[:40]}'.")
                return default
            return value

        f.model = pick("model", list(models))
        f.status = pick("status", STATUS_CHOICES, "open")
        f.priority = pick("priority", list(PRIORITY_BANDS))
        f.sla = pick("sla", SLA_STATES)
        f.reason = pick("reason", list(REASON_LABELS))
        f.assignee = pick("assignee", None)[:150]
        f.sort = pick("sort", list(SORTS), "priority")
        try:
            f.page = parse_int(
                data.get("page"), name="page", minimum=1, maximum=PAGE_MAX, default=1
            )
        except ParamError as exc:
            errors.setdefault("page", []).extend(exc.errors["page"])
        f.errors = errors
        return f

    def query(self, **changes: Any) -> str:
        from urllib.parse import urlencode

        values = {
            "model": self.model,
            "status": self.status if self.status != "open" else "",
            "priority": self.priority,
            "sla": self.sla,
            "reason": self.reason,
            "assignee": self.assignee,
            "sort": self.sort if self.sort != "priority" else "",
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v})


def _sla_q(state: str, now: dt.datetime) -> Q:
    near = now + dt.timedelta(seconds=int(settings.REVIEW_SLA_NEAR_SECONDS))
    breached = Q(sla_breached_at__isnull=False) | Q(sla_due_at__lte=now)
    if state == "breached":
        return breached
    if state == "near":
        return ~breached & Q(sla_due_at__lte=near)
    return ~breached & Q(sla_due_at__gt=near)


def reason_q(code: str) -> Q:
    if connection.vendor == "postgresql":
        return Q(prediction__reason_codes__contains=[code])
    return Q(prediction__reason_codes__icontains=f'"{code}"')


def queue_items(
    *, user: Any, filters: QueueFilters, models: dict[str, MLModel]
) -> QuerySet[ReviewItem]:
    now = clock.now()
    qs = review_items_visible_to(user, held=False)
    if filters.model:
        qs = qs.filter(model_id=models[filters.model].pk)
    if filters.status == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif filters.status != "all":
        qs = qs.filter(status=filters.status)
    if filters.priority:
        low, high = PRIORITY_BANDS[filters.priority]
        qs = qs.filter(priority__gte=low, priority__lt=high)
    if filters.sla:
        qs = qs.filter(_sla_q(filters.sla, now))
    if filters.reason:
        reason = reason_q(filters.reason)
        if filters.reason == QA_SAMPLE and visible_model_ids(user) is not None:
            # --- blind: a reviewer's list shows a blind item of a passed prediction as a QA
            # sample (selectors.blind), so its filter finds it there too.
            reason |= Q(purpose__in=BLIND, prediction__routed=False)
        qs = qs.filter(reason)
    if filters.assignee == "me":
        qs = qs.filter(claimed_by=user)
    elif filters.assignee == "none":
        qs = qs.filter(claimed_by__isnull=True)
    elif filters.assignee:
        qs = qs.filter(claimed_by__username=filters.assignee)
    return qs.select_related("model", "prediction", "claimed_by").order_by(*SORTS[filters.sort])


def page_of(qs: QuerySet, page: int, size: int = PAGE_SIZE) -> tuple[list, bool]:
    """One page without COUNT(*) over the whole queue: fetch one row more to know if there is
    a next page (the filter counts give the totals)."""
    start = (page - 1) * size
    rows = list(qs[start : start + size + 1])
    return rows[:size], len(rows) > size


def breached_first(*, user: Any, limit: int = 5) -> list[ReviewItem]:
    """Open items past their SLA, oldest breach first: what a lead looks at before anything."""
    qs = review_items_visible_to(
        user,
        ReviewItem.objects.filter(status__in=OPEN_STATUSES, sla_breached_at__isnull=False),
        held=False,
    )
    return list(
        qs.select_related("model", "prediction", "claimed_by").order_by("sla_breached_at", "id")[
            :limit
        ]
    )


def _grouped_counts(qs: QuerySet, now: dt.datetime) -> QuerySet:
    near = now + dt.timedelta(seconds=int(settings.REVIEW_SLA_NEAR_SECONDS))
    breached = Q(sla_breached_at__isnull=False) | Q(sla_due_at__lte=now)
    return (
        qs.filter(status__in=OPEN_STATUSES)
        .order_by()
        .values("model_id", "status", "purpose")
        .annotate(
            n=Count("id"),
            breached=Count("id", filter=breached),
            near=Count("id", filter=~breached & Q(sla_due_at__lte=near)),
            high=Count("id", filter=Q(priority__gte=70)),
            medium=Count("id", filter=Q(priority__gte=40, priority__lt=70)),
        )
    )


def blind_count_rows(user: Any, now: dt.datetime) -> tuple[list[dict], list[dict]]:
    """--- blind (docs/quality/blind.md): the reviewer's own open gold and qualification items
    (to add: the shared counts leave every served item out) and the open second reviews of
    their own decisions (to take away: they never see them). Two small indexed queries."""
    own = list(
        _grouped_counts(
            ReviewItem.objects.filter(for_reviewer=user, purpose__in=PER_REVIEWER_PURPOSES), now
        )
    )
    hidden = list(_grouped_counts(ReviewItem.objects.filter(excluded_reviewer=user), now))
    return own, hidden


def count_rows(now: dt.datetime) -> list[dict[str, Any]]:
    near = now + dt.timedelta(seconds=int(settings.REVIEW_SLA_NEAR_SECONDS))
    breached = Q(sla_breached_at__isnull=False) | Q(sla_due_at__lte=now)
    grouped = (
        ReviewItem.objects.filter(status__in=OPEN_STATUSES)
        .order_by()
        .values("model_id", "status", "purpose")
        .annotate(
            n=Count("id"),
            breached=Count("id", filter=breached),
            near=Count("id", filter=~breached & Q(sla_due_at__lte=near)),
            high=Count("id", filter=Q(priority__gte=70)),
            medium=Count("id", filter=Q(priority__gte=40, priority__lt=70)),
            oldest=Min("created_at"),
        )
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # One core, not all of them: a parallel scan of a million rows is faster alone
            # but stalls every request in flight on a small machine for its duration.
            with connection.cursor() as cur:
                cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        rows = list(grouped)
    # JSON-ready: the snapshot row stores these as they are.
    return [{**r, "oldest": r["oldest"].isoformat() if r["oldest"] else None} for r in rows]


def fresh_count_snapshot() -> QueueCountSnapshot | None:
    """Beat's open-item counts, or None when missing or older than REVIEW_COUNTS_STALE_SECONDS."""
    snapshot = QueueCountSnapshot.objects.filter(pk=1).first()
    fresh_after = clock.now() - dt.timedelta(seconds=int(settings.REVIEW_COUNTS_STALE_SECONDS))
    return snapshot if snapshot is not None and snapshot.computed_at >= fresh_after else None


def queue_counts(*, user: Any, model_id: int | None = None) -> dict[str, Any]:
    """Counts of open items per filter value, among the models the user sees.

    Read from the snapshot the beat task keeps (one row); if beat is not keeping it, counted
    here with one grouped query and cached: at a million open items the grouped count
    takes hundreds of ms, too slow for every page view. The cache lives at least
    REVIEW_COUNTS_CACHE_SECONDS and longer when counting is slow (100x the time it took, at
    most 5 minutes), so counting never costs more than about 1% of a web process; the page
    says how old the counts are.
    """
    key = "failsafe:queue-counts"
    snapshot = fresh_count_snapshot()
    if snapshot is not None:
        cached = {"rows": snapshot.rows, "at": snapshot.computed_at}
    else:
        cached = cache.get(key)
    if cached is None:
        now = clock.now()
        started = time.perf_counter()
        cached = {"rows": count_rows(now), "at": now}
        took = time.perf_counter() - started
        ttl = min(300, max(int(settings.REVIEW_COUNTS_CACHE_SECONDS), int(took * 100)))
        cache.set(key, cached, ttl)
    visible = visible_model_ids(user)
    rows = [r for r in cached["rows"] if visible is None or r["model_id"] in visible]
    if visible is not None:
        # --- blind (docs/quality/blind.md): gold and qualification items are each served to
        # one reviewer: a reviewer's counts hold their own, not others', and not the second
        # reviews of their own decisions, so the counts match the list they see.
        rows = [r for r in rows if r.get("purpose") not in PER_REVIEWER_PURPOSES]
        own, hidden = blind_count_rows(user, clock.now())
        rows += [r for r in own if r["model_id"] in visible]
        rows += [
            {**r, **{k: -r[k] for k in ("n", "breached", "near", "high", "medium")}}
            for r in hidden
            if r["model_id"] in visible
        ]
    by_model: dict[int, int] = {}
    for r in rows:
        by_model[r["model_id"]] = by_model.get(r["model_id"], 0) + r["n"]
    scoped = [r for r in rows if model_id is None or r["model_id"] == model_id]
    by_status = {s: 0 for s in OPEN_STATUSES}
    breached = near = high = medium = total = 0
    for r in scoped:
        by_status[r["status"]] += r["n"]
        total += r["n"]
        breached += r["breached"]
        near += r["near"]
        high += r["high"]
        medium += r["medium"]
    # The blind adjustments are live, the shared counts a snapshot: never below nothing.
    total = max(0, total)
    by_status = {k: max(0, v) for k, v in by_status.items()}
    return {
        "total": total,
        "by_model": by_model,
        "by_status": by_status,
        "by_sla": {"breached": breached, "near": near, "ok": total - breached - near},
        "by_priority": {"high": high, "medium": medium, "low": total - high - medium},
        "computed_at": cached["at"],
    }


def held_by(user: Any) -> int:
    return ReviewItem.objects.filter(claimed_by=user, status=S.CLAIMED).count()


def assignable_users(model_id: int | None = None) -> QuerySet:
    User = get_user_model()
    qs = User.objects.filter(
        groups__name__in=[roles.REVIEWER, roles.LEAD], is_active=True
    ).distinct()
    if model_id is not None:
        qs = qs.filter(
            Q(pool_memberships__model_id=model_id) | Q(groups__name=roles.LEAD)
        ).distinct()
    return qs.order_by("username")


def assignable_users_for_models(model_ids: Iterable[int]) -> QuerySet:
    """Who may be given items of every one of ``model_ids``: the leads (they work any pool)
    and the reviewers who are in all of those pools (a mixed selection: the intersection)."""
    ids = set(model_ids)
    User = get_user_model()
    qs = User.objects.filter(groups__name__in=[roles.REVIEWER, roles.LEAD], is_active=True)
    if not ids:
        return qs.distinct().order_by("username")
    in_every_pool = (
        PoolMembership.objects.filter(model_id__in=ids)
        .values("user_id")
        .annotate(pools=Count("model_id", distinct=True))
        .filter(pools=len(ids))
        .values("user_id")
    )
    return (
        qs.filter(Q(groups__name=roles.LEAD) | Q(pk__in=in_every_pool))
        .distinct()
        .order_by("username")
    )


def bulk_assignees(*, model_id: int | None) -> list[dict[str, Any]]:
    """The queue list's "Assign to" choices: with a model filtered, the people of its pool
    and the leads; otherwise everyone who reviews. Each with their pools (model ids, "*" for
    a lead), so the page offers only those who can take the items selected
    (``static/js/bulk.js``; ``review_items_bulk`` checks again). Two queries."""
    User = get_user_model()
    leads = User.groups.through.objects.filter(user=OuterRef("pk"), group__name=roles.LEAD)
    users = list(assignable_users(model_id).annotate(is_lead=Exists(leads)))
    pools: dict[int, list[int]] = {}
    for user_id, pool in PoolMembership.objects.filter(
        user_id__in=[u.pk for u in users]
    ).values_list("user_id", "model_id"):
        pools.setdefault(user_id, []).append(pool)
    return [
        {
            "username": u.get_username(),
            "pools": "*" if u.is_lead else " ".join(map(str, sorted(pools.get(u.pk, [])))),
        }
        for u in users
    ]


def model_contacts(*, slug: str, limit: int = 5) -> dict[str, Any] | None:
    """Who to ask about joining a model's pool, for the 403 page (core's
    ``core.model_contacts`` hook): the model's owners and the leads (leads manage pools)."""
    model = MLModel.objects.filter(slug=slug).first()
    if model is None:
        return None
    User = get_user_model()
    owners = model.owners.filter(is_active=True).order_by("username")
    leads = User.objects.filter(groups__name=roles.LEAD, is_active=True).order_by("username")
    return {
        "slug": model.slug,
        "owners": list(owners.values_list("username", flat=True)[:limit]),
        "leads": list(leads.values_list("username", flat=True)[:limit]),
    }


def pools_overview() -> list[dict[str, Any]]:
    models = list(MLModel.objects.order_by("slug").prefetch_related("pool_memberships__user"))
    return [{"model": m, "members": [pm.user for pm in m.pool_memberships.all()]} for m in models]


@dataclass
class BulkPreview:
    """What a bulk action would touch, for the confirmation that names it."""

    ids: list[int]
    statuses: list[str]
    model_slugs: list[str]
    model_ids: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.ids)


def bulk_preview(ids: list[int]) -> BulkPreview:
    """The items behind ``ids`` (those that exist), with their statuses and models."""
    rows = list(
        ReviewItem.objects.filter(pk__in=ids)
        .values_list("pk", "status", "model__slug", "model_id")
        .order_by("pk")
    )
    return BulkPreview(
        ids=[pk for pk, _s, _m, _i in rows],
        statuses=sorted({s for _pk, s, _m, _i in rows}),
        model_slugs=sorted({m for _pk, _s, m, _i in rows}),
        model_ids=sorted({i for _pk, _s, _m, i in rows}),
    )

"""Claiming review items: who may review, the next item, take, renew, release, assign, bulk.

Rules that hold here:
- A reviewer acts only on an item they hold (status ``claimed``, ``claimed_by`` = them) and
  only with the claim generation their page was rendered for; anything else is a 409.
- Claims are leases; the lease sweeper returns abandoned items. Claims are taken with
  ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL and, on every database, a conditional
  UPDATE whose row count is checked (see review_state.item_transition).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from reviewapp.core import clock, roles
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.db_router import reads_from_primary
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.time import iso_utc
from reviewapp.models import (
    PRIORITY_BANDS,
    QUEUE_ORDER,
    MLModel,
    PoolMembership,
    ReviewItem,
)
from reviewapp.selectors.queue import assignable_users_for_models, reason_q

from .review_state import item_transition, pg_claim_next, sql_order_by

logger = logging.getLogger(__name__)
S = ReviewItem.Status


# --- who may do what ------------------------------------------------------------------------
def can_review(user: Any) -> bool:
    return roles.has_role(user, roles.REVIEWER, roles.LEAD)


def is_lead(user: Any) -> bool:
    return roles.has_role(user, roles.LEAD)


def require_reviewer(user: Any) -> None:
    if not can_review(user):
        raise PermissionDenied(_("Only reviewers and leads may claim and decide review items."))


def require_lead(user: Any) -> None:
    if not is_lead(user):
        raise PermissionDenied(_("Only leads may manage the queue."))


def pool_model_ids(user: Any) -> list[int]:
    return list(PoolMembership.objects.filter(user=user).values_list("model_id", flat=True))


def lease_seconds() -> int:
    return int(settings.REVIEW_CLAIM_LEASE_SECONDS)


def _lease_end(now: dt.datetime, seconds: int | None = None) -> dt.datetime:
    return now + dt.timedelta(seconds=seconds or lease_seconds())


def claim_changes(
    item: ReviewItem,
    holder: Any,
    now: dt.datetime,
    *,
    lease: int | None = None,
    assigned_by: Any = None,
) -> dict[str, Any]:
    """The columns every claim writes: the holder, a fresh lease, the next claim generation
    (which makes every page rendered for an earlier claim stale)."""
    return {
        "claimed_by": holder,
        "claimed_at": now,
        "claim_expires_at": _lease_end(now, lease),
        "claim_generation": item.claim_generation + 1,
        "assigned_by": assigned_by,
    }


def get_item(item_id: int, *, lock: bool = False) -> ReviewItem:
    qs = ReviewItem.objects.select_related("model", "prediction")
    if lock and connection.vendor == "postgresql":
        qs = qs.select_for_update(of=("self",))
    item = qs.filter(pk=item_id).first()
    if item is None:
        raise NotFound(_("No review item #%(id)s.") % {"id": item_id}, field="item")
    return item


# --- claiming -------------------------------------------------------------------------------
def _commit_without_waiting_for_disk() -> None:
    """For a write whose loss in a crash is harmless, return from COMMIT before the WAL is on
    disk (PostgreSQL's asynchronous commit; the database stays consistent, at most the last
    fraction of a second of such commits is lost).

    Used for claims: a lost claim puts the item back in the queue and the holder's next
    action gets the "claim lost" answer. Decisions always wait for the disk. On a busy disk
    that wait is sometimes hundreds of milliseconds, which a reviewer pressing "Start
    reviewing" should not feel.
    """
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


# Highest priority band first, items deferred without a time behind the rest of their band,
# then priority, the earliest SLA deadline (the id breaks ties): models.QUEUE_ORDER.
CLAIM_ORDER = QUEUE_ORDER
BAND_NUMBERS = {name: number for name, _floor, number in PRIORITY_BANDS}


@dataclass(frozen=True)
class ClaimScope:
    """The part of the queue a reviewer is working through (the filter on the queue page):
    one model, one reason code, one priority band; empty values do not narrow."""

    model_id: int | None = None
    reason: str = ""
    band: str = ""

    def __bool__(self) -> bool:
        return bool(self.model_id or self.reason or self.band)

    def q(self) -> Q:
        q = Q()
        if self.model_id:
            q &= Q(model_id=self.model_id)
        if self.band:
            q &= Q(queue_band=BAND_NUMBERS[self.band])
        if self.reason:
            q &= reason_q(self.reason)
        return q


def not_deferred_by(user: Any, now: dt.datetime) -> Q:
    """Leave out the items ``user`` deferred without a time less than
    QUEUE_DEFER_EXCLUSION_MINUTES ago: a deferral sends the item to someone else first."""
    return ~Q(deferred_by=user, deferred_by_until__gt=now)


@dataclass(frozen=True)
class Pools:
    """The models a reviewer may take items of now: ``live`` (any pending item of the pool)
    and ``served`` (only items served to them by name: gold and qualification). A member who
    is qualifying is in ``served`` only; a paused member, or one with a new guideline to
    acknowledge, in neither (PoolMembership.takes_live_items)."""

    live: list[int]
    served: list[int]

    def __bool__(self) -> bool:
        return bool(self.served)

    def narrowed(self, model_id: int | None) -> Pools:
        if not model_id:
            return self
        return Pools(
            [m for m in self.live if m == model_id], [m for m in self.served if m == model_id]
        )

    def q(self, user: Any) -> Q:
        """The same rule as the one-statement claim, for the ORM path."""
        mine = Q(for_reviewer=user) & Q(model_id__in=self.served)
        live = Q(for_reviewer__isnull=True) & Q(model_id__in=self.live)
        return (mine | live) & ~Q(excluded_reviewer=user)


def _pools_q() -> Q:
    return Q(paused_at__isnull=True, guideline_pending=False)


def pools_of(user: Any) -> Pools:
    rows = PoolMembership.objects.filter(_pools_q(), user=user).values_list(
        "model_id", "qualifying"
    )
    rows = list(rows)
    return Pools([m for m, qualifying in rows if not qualifying], [m for m, _q in rows])


def _held_and_pools(user: Any) -> tuple[tuple[int, int] | None, Pools]:
    """The item ``user`` holds (id, claim generation), if any, and the pools they take from."""
    if connection.vendor != "postgresql":
        held = (
            ReviewItem.objects.filter(claimed_by=user, status=S.CLAIMED)
            .order_by(*CLAIM_ORDER)
            .values_list("pk", "claim_generation")
            .first()
        )
        return held, pools_of(user)
    # One round trip instead of two ORM queries: this runs on every "Start reviewing".
    pools = PoolMembership._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT h.id, h.claim_generation,
                   ARRAY(SELECT model_id FROM {pools} WHERE user_id = %s
                         AND paused_at IS NULL AND NOT guideline_pending AND NOT qualifying),
                   ARRAY(SELECT model_id FROM {pools} WHERE user_id = %s
                         AND paused_at IS NULL AND NOT guideline_pending)
            FROM (SELECT 1) AS one LEFT JOIN LATERAL (
                SELECT id, claim_generation FROM {ReviewItem._meta.db_table}
                WHERE claimed_by_id = %s AND status = %s
                ORDER BY {sql_order_by(CLAIM_ORDER)} LIMIT 1
            ) AS h ON TRUE
            """,
            [user.pk, user.pk, user.pk, S.CLAIMED],
        )
        held_id, generation, live, served = cursor.fetchone()
    held = (held_id, generation) if held_id is not None else None
    return held, Pools(list(live), list(served))


@reads_from_primary()  # claims and decisions never read the replica (core/db_router.py)
def review_item_claim_next(*, user: Any, scope: ClaimScope | None = None) -> ReviewItem | None:
    """Give ``user`` the item they should work on now, or None if nothing is waiting.

    An item they already hold comes first (its lease is renewed; one item at a time, even
    outside ``scope``); then, for leads, escalated items; then the pending item of their
    pools in queue order (CLAIM_ORDER). ``scope`` narrows both to the filter the reviewer is
    working through. Items the reviewer deferred without a time in the last
    QUEUE_DEFER_EXCLUSION_MINUTES go to others.
    """
    require_reviewer(user)
    scope = scope or ClaimScope()
    now = clock.now()
    held, pools = _held_and_pools(user)
    if held is not None:
        return review_item_renew(item_id=held[0], user=user, generation=held[1])
    data: dict[str, Any] = {"lease_seconds": lease_seconds(), "via": "next"}
    if scope:
        data["scope"] = {
            k: v
            for k, v in (("model", scope.model_id), ("reason", scope.reason), ("band", scope.band))
            if v
        }
    if is_lead(user):
        item = _claim_one(Q(status=S.ESCALATED) & scope.q(), "take", user, now, data)
        if item is not None:
            return item
    pools = pools.narrowed(scope.model_id)
    if not pools:
        return None
    if connection.vendor == "postgresql":
        with transaction.atomic():
            _commit_without_waiting_for_disk()
            return pg_claim_next(
                user=user,
                model_ids=pools.served,
                live_model_ids=pools.live,
                order=CLAIM_ORDER,
                lease_ends=_lease_end(now),
                data=data,
                band=BAND_NUMBERS[scope.band] if scope.band else None,
                reason=scope.reason or None,
            )
    return _claim_one(
        Q(status=S.PENDING) & pools.q(user) & scope.q() & not_deferred_by(user, now),
        "claim",
        user,
        now,
        data,
    )


def _claim_one(base: Q, event: str, user: Any, now: dt.datetime, data: dict) -> ReviewItem | None:
    """Claim the first item matching ``base`` for ``user``, or None if there is none."""
    candidates = ReviewItem.objects.filter(base).order_by(*CLAIM_ORDER)
    if connection.vendor == "postgresql":
        # Rows another claimer has locked are skipped, so claimers never queue on one row.
        candidates = candidates.select_for_update(skip_locked=True)
    # A lost race (possible only where SKIP LOCKED is not available) just tries again.
    for _attempt in range(5):
        try:
            with transaction.atomic():
                item = candidates.first()
                if item is None:
                    return None
                _commit_without_waiting_for_disk()
                return item_transition(
                    item=item,
                    event=event,
                    actor=Actor.user(user),
                    expect={"claimed_by__isnull": True},
                    changes=claim_changes(item, user, now),
                    data=data,
                )
        except Conflict:
            continue
    return None


@reads_from_primary()  # claims and decisions never read the replica (core/db_router.py)
def review_item_take(*, item_id: int, user: Any) -> ReviewItem:
    """Claim one named item: a lead taking an escalated or pending item, or a reviewer a
    pending item of their pools (from the queue list)."""
    require_reviewer(user)
    with transaction.atomic():
        item = get_item(item_id, lock=True)
        if item.status == S.CLAIMED and item.claimed_by_id == user.pk:
            return item
        if item.status == S.ESCALATED and not is_lead(user):
            raise PermissionDenied(_("Escalated items are for leads."), field="item")
        if not is_lead(user):
            may_take_check(item, user)
        if item.status == S.CLAIMED:
            raise Conflict(_("Someone else holds this item."), code="claimed")
        now = clock.now()
        return item_transition(
            item=item,
            event="take",
            actor=Actor.user(user),
            expect={"claimed_by__isnull": True},
            changes=claim_changes(item, user, now),
            data={"lease_seconds": lease_seconds(), "via": "item"},
            conflict_message=_("This item cannot be claimed now: it is %(status)s.")
            % {"status": item.get_status_display().lower()},
        )


def may_take_check(item: ReviewItem, user: Any) -> None:
    """Refuse (403) a reviewer taking ``item`` from the queue list when the claim would not
    offer it to them: outside their pools, paused, qualifying, a guideline to acknowledge, or
    an item that is not theirs to review."""
    membership = PoolMembership.objects.filter(model_id=item.model_id, user=user).first()
    if membership is None:
        raise PermissionDenied(
            _("You are not in the reviewer pool for %(model)s.") % {"model": item.model.slug},
            field="item",
        )
    if membership.paused_at:
        raise PermissionDenied(
            _("A lead paused your reviewing for %(model)s: %(reason)s")
            % {"model": item.model.slug, "reason": membership.pause_reason},
            field="item",
        )
    if membership.guideline_pending:
        raise PermissionDenied(
            _("The guideline for %(model)s changed: read and acknowledge it first.")
            % {"model": item.model.slug},
            field="item",
        )
    mine = item.for_reviewer_id == user.pk
    if (item.for_reviewer_id and not mine) or item.excluded_reviewer_id == user.pk:
        raise PermissionDenied(_("This item is for another reviewer."), field="item")
    if membership.qualifying and not mine:
        raise PermissionDenied(
            _("Finish your qualification set for %(model)s before taking live items.")
            % {"model": item.model.slug},
            field="item",
        )


@reads_from_primary()  # claims and decisions never read the replica (core/db_router.py)
def review_item_renew(*, item_id: int, user: Any, generation: int) -> ReviewItem:
    """Extend the lease while the page is open. Never shortens an assignment's longer lease.

    Audited sparingly: the page renews every minute, so an event is written only when the
    lease end crosses a multiple of ``AUDIT_LEASE_RENEW_EVERY_SECONDS`` (default 600; 0
    audits every renewal). That is about one event per held item per interval, enough to show
    that someone kept an item open and until when, without a row per reviewer per minute.
    """
    now = clock.now()
    item = get_item(item_id)
    check_holder(item, user, generation)
    old_end = item.claim_expires_at
    new_end = max(_lease_end(now), old_end or now)
    with transaction.atomic():
        updated = ReviewItem.objects.filter(
            pk=item.pk, status=S.CLAIMED, claimed_by=user, claim_generation=generation
        ).update(claim_expires_at=new_end)
        if updated != 1:
            check_holder(get_item(item_id), user, generation)
            raise Conflict(_("Your claim on this item was lost."), code="stale")
        if _renewal_audited(old_end, new_end):
            audit_record(
                actor=Actor.user(user),
                verb="queue.review_item.lease_renewed",
                target=item,
                before={"claim_expires_at": iso_utc(old_end)},
                after={"claim_expires_at": iso_utc(new_end)},
                data={"generation": generation},
            )
    item.claim_expires_at = new_end
    return item


def _renewal_audited(old_end: dt.datetime | None, new_end: dt.datetime) -> bool:
    every = settings.AUDIT_LEASE_RENEW_EVERY_SECONDS
    if every <= 0 or old_end is None:
        return True
    return int(old_end.timestamp() // every) != int(new_end.timestamp() // every)


def check_holder(item: ReviewItem, user: Any, generation: int | None) -> None:
    """Raise a 409 that says exactly why ``user`` may not act on ``item`` now."""
    if item.status != S.CLAIMED or item.claimed_by_id is None:
        if item.status == S.DECIDED:
            msg = _("This item was already decided. Nothing was changed.")
        else:
            msg = _(
                "Your claim on this item expired and it went back to the queue. "
                "Nothing was recorded; start reviewing to get an item."
            )
        raise Conflict(msg, code="claim_lost")
    if item.claimed_by_id != user.pk:
        raise Conflict(
            _("%(name)s holds this item now. Nothing was recorded.")
            % {"name": item.claimed_by.get_username() if item.claimed_by else "?"},
            code="claimed_by_other",
        )
    if generation is not None and generation != item.claim_generation:
        raise Conflict(
            _("This page is out of date: the item was claimed again since it loaded. Reload it."),
            code="stale",
        )


def release_target(item: ReviewItem) -> str:
    return S.ESCALATED if item.escalated_at else S.PENDING


RELEASED_CLAIM = {
    "claimed_by": None,
    "claimed_at": None,
    "claim_expires_at": None,
    "assigned_by": None,
}


@reads_from_primary()  # claims and decisions never read the replica (core/db_router.py)
def review_item_release(*, item_id: int, user: Any, generation: int | None = None) -> ReviewItem:
    """The holder gives the item back, or a lead releases anyone's claim."""
    with transaction.atomic():
        item = get_item(item_id, lock=True)
        if not is_lead(user):
            require_reviewer(user)
            check_holder(item, user, generation)
        elif item.status != S.CLAIMED:
            raise Conflict(_("This item is not claimed; there is nothing to release."))
        holder = item.claimed_by_id
        return item_transition(
            item=item,
            event="release",
            to=release_target(item),
            actor=Actor.user(user),
            changes=dict(RELEASED_CLAIM),
            data={"holder": holder},
        )


@reads_from_primary()  # claims and decisions never read the replica (core/db_router.py)
def review_item_assign(*, item_id: int, assignee: Any, by: Any) -> ReviewItem:
    """A lead gives an open item to a reviewer of its pool (also moves it between reviewers).

    The claim lasts REVIEW_ASSIGN_LEASE_SECONDS, so it survives until the reviewer gets to it.
    """
    require_lead(by)
    with transaction.atomic():
        item = get_item(item_id, lock=True)
        if not can_review(assignee):
            raise ServiceError(
                _("%(name)s is not a reviewer.") % {"name": assignee.get_username()},
                errors={"assignee": [_("Pick a reviewer or a lead.")]},
            )
        if (
            not is_lead(assignee)
            and not PoolMembership.objects.filter(model_id=item.model_id, user=assignee).exists()
        ):
            raise ServiceError(
                _("Not in the pool."),
                errors={
                    "assignee": [
                        _("%(name)s is not in the reviewer pool for %(model)s.")
                        % {"name": assignee.get_username(), "model": item.model.slug}
                    ]
                },
                status=422,
            )
        if item.for_reviewer_id and item.for_reviewer_id != assignee.pk:
            raise ServiceError(
                _("Not this item."),
                errors={"assignee": [_("This item is served to one reviewer only.")]},
                status=422,
            )
        if item.excluded_reviewer_id == assignee.pk:
            raise ServiceError(
                _("Not this reviewer."),
                errors={
                    "assignee": [
                        _("%(name)s may not review this item.") % {"name": assignee.get_username()}
                    ]
                },
                status=422,
            )
        if item.status == S.CLAIMED and item.claimed_by_id == assignee.pk:
            return item
        now = clock.now()
        return item_transition(
            item=item,
            event="assign",
            actor=Actor.user(by),
            changes={
                **claim_changes(
                    item,
                    assignee,
                    now,
                    lease=int(settings.REVIEW_ASSIGN_LEASE_SECONDS),
                    assigned_by=by,
                ),
                "wake_at": None,
            },
            data={"assignee": assignee.pk, "previous_holder": item.claimed_by_id},
        )


@dataclass
class BulkResult:
    done: list[int]
    skipped: dict[int, str]


def bulk_assignee_check(*, assignee: Any, model_ids: Iterable[int]) -> None:
    """Refuse (422, nothing changed) an assignee who may not take every item of a bulk
    selection: not a reviewer, or outside the pool of one of its models. The message names
    those pools and who could take the whole selection."""
    ids = set(model_ids)
    name = assignee.get_username()
    if not can_review(assignee):
        message = _("%(name)s is not a reviewer or a lead.") % {"name": name}
    elif is_lead(assignee):
        return
    else:
        member_of = set(
            PoolMembership.objects.filter(user=assignee, model_id__in=ids).values_list(
                "model_id", flat=True
            )
        )
        outside = sorted(
            MLModel.objects.filter(pk__in=ids - member_of).values_list("slug", flat=True)
        )
        if not outside:
            return
        message = _("%(name)s is not in the reviewer pool of %(models)s.") % {
            "name": name,
            "models": ", ".join(outside),
        }
    others = [u.get_username() for u in assignable_users_for_models(ids)[:10]]
    if others:
        message += " " + _("Who can take all the selected items: %(names)s.") % {
            "names": ", ".join(others)
        }
    else:
        message += " " + _(
            "Nobody is in the pools of all the selected models: select items of one model."
        )
    raise ServiceError(message, errors={"assignee": [message]}, status=422)


@reads_from_primary()  # claims and decisions never read the replica (core/db_router.py)
def review_items_bulk(
    *, item_ids: Iterable[int], action: str, by: Any, assignee: Any = None
) -> BulkResult:
    """A lead's bulk assign or release over a selection; each item succeeds or is skipped
    with its reason, so one moved item does not block the rest."""
    require_lead(by)
    ids = list(dict.fromkeys(int(i) for i in item_ids))
    limit = int(settings.REVIEW_BULK_LIMIT)
    if not ids:
        raise ServiceError(
            _("Select at least one item."), errors={"items": [_("Select at least one item.")]}
        )
    if len(ids) > limit:
        raise ServiceError(
            _("Too many items."),
            errors={"items": [_("At most %(n)s items at once; narrow the filter.") % {"n": limit}]},
            status=422,
        )
    if action not in {"assign", "release"}:
        raise ServiceError(_("Unknown action."), errors={"action": [_("Use assign or release.")]})
    if action == "assign" and assignee is None:
        raise ServiceError(_("Pick a reviewer."), errors={"assignee": [_("Pick a reviewer.")]})
    if action == "assign":
        bulk_assignee_check(
            assignee=assignee,
            model_ids=ReviewItem.objects.filter(pk__in=ids).values_list("model_id", flat=True),
        )
    result = BulkResult([], {})
    for item_id in ids:
        try:
            if action == "assign":
                review_item_assign(item_id=item_id, assignee=assignee, by=by)
            else:
                review_item_release(item_id=item_id, user=by)
            result.done.append(item_id)
        except ServiceError as exc:
            result.skipped[item_id] = (
                exc.message
                if not exc.errors
                else "; ".join(m for msgs in exc.errors.values() for m in msgs)
            )
    return result

"""Working the review queue: claim, renew, release, assign, decide, undo, and the beat sweeps.

Rules that hold here:
- A reviewer acts only on an item they hold (status ``claimed``, ``claimed_by`` = them) and
  only with the claim generation their page was rendered for; anything else is a 409.
- Claims are leases; the lease sweeper returns abandoned items. Claims are taken with
  ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL and, on every database, a conditional
  UPDATE whose row count is checked (see review_state.item_transition).
- Every decision is delivered only after ``deliver_after`` (the Undo grace period).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Least
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from reviewapp.core import roles
from reviewapp.core.audit import Actor, audit_record, audit_record_many, build_event
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.models import (
    OPEN_STATUSES,
    Decision,
    GuidelineVersion,
    PoolMembership,
    Prediction,
    QueueCountSnapshot,
    ReviewItem,
)

from .review_state import item_transition, pg_claim_next, sql_order_by

logger = logging.getLogger(__name__)
S = ReviewItem.Status
A = Decision.Action
SYSTEM = Actor.system("review-queue")
DEFERRALS_BEFORE_ESCALATION = 3
MAX_TEXT = 2000


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


def _claim_changes(
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


def _get_item(item_id: int, *, lock: bool = False) -> ReviewItem:
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


# Highest priority first, then the earliest SLA deadline (the id breaks ties).
CLAIM_ORDER = ("-priority", "sla_due_at", "id")


def _held_and_pools(user: Any) -> tuple[tuple[int, int] | None, list[int]]:
    """The item ``user`` holds (id, claim generation), if any, and the models of their pools."""
    if connection.vendor != "postgresql":
        held = (
            ReviewItem.objects.filter(claimed_by=user, status=S.CLAIMED)
            .order_by(*CLAIM_ORDER)
            .values_list("pk", "claim_generation")
            .first()
        )
        return held, pool_model_ids(user)
    # One round trip instead of two ORM queries: this runs on every "Start reviewing".
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT h.id, h.claim_generation,
                   ARRAY(SELECT model_id FROM {PoolMembership._meta.db_table} WHERE user_id = %s)
            FROM (SELECT 1) AS one LEFT JOIN LATERAL (
                SELECT id, claim_generation FROM {ReviewItem._meta.db_table}
                WHERE claimed_by_id = %s AND status = %s
                ORDER BY {sql_order_by(CLAIM_ORDER)} LIMIT 1
            ) AS h ON TRUE
            """,
            [user.pk, user.pk, S.CLAIMED],
        )
        held_id, generation, model_ids = cursor.fetchone()
    return ((held_id, generation) if held_id is not None else None), list(model_ids)


def review_item_claim_next(*, user: Any) -> ReviewItem | None:
    """Give ``user`` the item they should work on now, or None if nothing is waiting.

    An item they already hold comes first (its lease is renewed); then, for leads, escalated
    items; then the pending item of their pools with the highest priority and the earliest
    SLA deadline.
    """
    require_reviewer(user)
    now = timezone.now()
    held, model_ids = _held_and_pools(user)
    if held is not None:
        return review_item_renew(item_id=held[0], user=user, generation=held[1])
    data = {"lease_seconds": lease_seconds(), "via": "next"}
    if is_lead(user):
        item = _claim_one(Q(status=S.ESCALATED), "take", user, now, data)
        if item is not None:
            return item
    if not model_ids:
        return None
    if connection.vendor == "postgresql":
        with transaction.atomic():
            _commit_without_waiting_for_disk()
            return pg_claim_next(
                user=user,
                model_ids=model_ids,
                order=CLAIM_ORDER,
                lease_ends=_lease_end(now),
                data=data,
            )
    model_q = Q(model_id=model_ids[0]) if len(model_ids) == 1 else Q(model_id__in=model_ids)
    return _claim_one(Q(status=S.PENDING) & model_q, "claim", user, now, data)


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
                    changes=_claim_changes(item, user, now),
                    data=data,
                )
        except Conflict:
            continue
    return None


def review_item_take(*, item_id: int, user: Any) -> ReviewItem:
    """Claim one named item: a lead taking an escalated or pending item, or a reviewer a
    pending item of their pools (from the queue list)."""
    require_reviewer(user)
    with transaction.atomic():
        item = _get_item(item_id, lock=True)
        if item.status == S.CLAIMED and item.claimed_by_id == user.pk:
            return item
        if item.status == S.ESCALATED and not is_lead(user):
            raise PermissionDenied(_("Escalated items are for leads."), field="item")
        if not is_lead(user) and item.model_id not in pool_model_ids(user):
            raise PermissionDenied(
                _("You are not in the reviewer pool for %(model)s.") % {"model": item.model.slug},
                field="item",
            )
        if item.status == S.CLAIMED:
            raise Conflict(_("Someone else holds this item."), code="claimed")
        now = timezone.now()
        return item_transition(
            item=item,
            event="take",
            actor=Actor.user(user),
            expect={"claimed_by__isnull": True},
            changes=_claim_changes(item, user, now),
            data={"lease_seconds": lease_seconds(), "via": "item"},
            conflict_message=_("This item cannot be claimed now: it is %(status)s.")
            % {"status": item.get_status_display().lower()},
        )


def review_item_renew(*, item_id: int, user: Any, generation: int) -> ReviewItem:
    """Extend the lease while the page is open. Never shortens an assignment's longer lease.

    Not audited: it changes no state anyone decides on, and it runs every minute per reviewer.
    """
    now = timezone.now()
    item = _get_item(item_id)
    _check_holder(item, user, generation)
    new_end = max(_lease_end(now), item.claim_expires_at or now)
    updated = ReviewItem.objects.filter(
        pk=item.pk, status=S.CLAIMED, claimed_by=user, claim_generation=generation
    ).update(claim_expires_at=new_end)
    if updated != 1:
        _check_holder(_get_item(item_id), user, generation)
        raise Conflict(_("Your claim on this item was lost."), code="stale")
    item.claim_expires_at = new_end
    return item


def _check_holder(item: ReviewItem, user: Any, generation: int | None) -> None:
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


def _release_target(item: ReviewItem) -> str:
    return S.ESCALATED if item.escalated_at else S.PENDING


_RELEASED = {"claimed_by": None, "claimed_at": None, "claim_expires_at": None, "assigned_by": None}


def review_item_release(*, item_id: int, user: Any, generation: int | None = None) -> ReviewItem:
    """The holder gives the item back, or a lead releases anyone's claim."""
    with transaction.atomic():
        item = _get_item(item_id, lock=True)
        if not is_lead(user):
            require_reviewer(user)
            _check_holder(item, user, generation)
        elif item.status != S.CLAIMED:
            raise Conflict(_("This item is not claimed; there is nothing to release."))
        holder = item.claimed_by_id
        return item_transition(
            item=item,
            event="release",
            to=_release_target(item),
            actor=Actor.user(user),
            changes=dict(_RELEASED),
            data={"holder": holder},
        )


def review_item_assign(*, item_id: int, assignee: Any, by: Any) -> ReviewItem:
    """A lead gives an open item to a reviewer of its pool (also moves it between reviewers).

    The claim lasts REVIEW_ASSIGN_LEASE_SECONDS, so it survives until the reviewer gets to it.
    """
    require_lead(by)
    with transaction.atomic():
        item = _get_item(item_id, lock=True)
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
        if item.status == S.CLAIMED and item.claimed_by_id == assignee.pk:
            return item
        now = timezone.now()
        return item_transition(
            item=item,
            event="assign",
            actor=Actor.user(by),
            changes={
                **_claim_changes(
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


# --- deciding -------------------------------------------------------------------------------
def failure_mode_choices() -> list[tuple[str, str]] | None:
    """(slug, title) of catalog failure modes, or None while the catalog is not built."""
    try:
        from catalog import selectors as catalog_selectors

        choices = catalog_selectors.failure_mode_choices()
    except (ImportError, AttributeError):
        return None
    out = []
    for choice in choices:
        if isinstance(choice, tuple | list):
            out.append((str(choice[0]), str(choice[1]) if len(choice) > 1 else str(choice[0])))
        else:
            slug = getattr(choice, "slug", None) or (
                choice.get("slug") if isinstance(choice, dict) else None
            )
            title = getattr(choice, "title", None) or (
                choice.get("title") if isinstance(choice, dict) else slug
            )
            if slug:
                out.append((str(slug), str(title or slug)))
    return out


def _record_occurrences(*, tags: list[str], decision: Decision, actor: Actor) -> None:
    try:
        from catalog import services as catalog_services

        record = catalog_services.occurrence_record
    except (ImportError, AttributeError):
        return
    for slug in tags:
        record(
            failure_mode_slug=slug,
            source_type="review_decision",
            source_id=str(decision.pk),
            occurred_at=decision.decided_at,
            actor=actor,
        )


def _clean_text(value: str | None, field: str, errors: dict[str, list[str]]) -> str:
    value = (value or "").strip()
    if len(value) > MAX_TEXT:
        errors.setdefault(field, []).append(_("At most %(n)s characters.") % {"n": MAX_TEXT})
    return value


def _clean_tags(tags: Iterable[str], errors: dict[str, list[str]]) -> list[str]:
    cleaned = [t.strip() for t in tags if t and t.strip()]
    cleaned = list(dict.fromkeys(cleaned))
    if len(cleaned) > 10:
        errors.setdefault("failure_mode_tags", []).append(_("At most 10 tags."))
    known = failure_mode_choices()
    for tag in cleaned:
        if known is not None and tag not in {slug for slug, _title in known}:
            errors.setdefault("failure_mode_tags", []).append(
                _("'%(tag)s' is not a failure mode in the catalog.") % {"tag": tag}
            )
        elif known is None and slugify(tag) != tag:
            errors.setdefault("failure_mode_tags", []).append(
                _("'%(tag)s' is not a failure-mode slug.") % {"tag": tag}
            )
    return cleaned


def review_item_decide(
    *,
    item_id: int,
    user: Any,
    action: str,
    generation: int | None,
    label: str = "",
    reason: str = "",
    note: str = "",
    wake_at: dt.datetime | None = None,
    failure_mode_tags: Iterable[str] = (),
    guideline_version_id: int | None = None,
) -> Decision:
    """Record what the holder of ``item_id`` decided and move the item on.

    accept / override close the item (delivered after the Undo grace period); escalate hands
    it to the leads; defer puts it back in the queue (not offered before ``wake_at``), and the
    third deferral escalates instead.
    """
    require_reviewer(user)
    errors: dict[str, list[str]] = {}
    if action not in A.values:
        raise ServiceError(
            _("Unknown action."),
            errors={"action": [_("Choose accept, override, escalate or defer.")]},
        )
    reason = _clean_text(reason, "reason", errors)
    note = _clean_text(note, "note", errors)
    tags = _clean_tags(failure_mode_tags, errors)
    with transaction.atomic():
        item = _get_item(item_id, lock=True)
        _check_holder(item, user, generation)
        prediction = item.prediction
        model = item.model
        final_label = ""
        if action == A.ACCEPT:
            final_label = prediction.label
        elif action == A.OVERRIDE:
            label = (label or "").strip()
            if not label:
                errors.setdefault("label", []).append(_("Pick the correct label."))
            elif label not in (model.labels or []):
                errors.setdefault("label", []).append(
                    _("'%(label)s' is not one of this model's labels (%(labels)s).")
                    % {"label": label, "labels": ", ".join(model.labels)}
                )
            elif label == prediction.label:
                errors.setdefault("label", []).append(
                    _("That is what the model said; use Accept instead.")
                )
            if not reason:
                errors.setdefault("reason", []).append(_("Say why the model was wrong."))
            final_label = label
        elif action == A.ESCALATE:
            if not note:
                errors.setdefault("note", []).append(_("Tell the lead what you need from them."))
        elif action == A.DEFER:
            if not note:
                errors.setdefault("note", []).append(_("Say why you are deferring."))
            if wake_at is not None:
                now = timezone.now()
                if timezone.is_naive(wake_at):
                    errors.setdefault("wake_at", []).append(_("Give a time with its zone."))
                elif wake_at <= now:
                    errors.setdefault("wake_at", []).append(_("Pick a time in the future."))
                elif wake_at > now + dt.timedelta(days=30):
                    errors.setdefault("wake_at", []).append(_("At most 30 days ahead."))
        guideline = None
        if guideline_version_id:
            guideline = GuidelineVersion.objects.filter(
                pk=guideline_version_id, model_id=model.pk
            ).first()
            if guideline is None:
                errors.setdefault("guideline_version", []).append(
                    _("Not a guideline version of this model.")
                )
        if errors:
            raise ServiceError(_("The decision has problems."), errors=errors, status=400)

        now = timezone.now()
        actor = Actor.user(user)
        escalates = action == A.ESCALATE or (
            action == A.DEFER and item.defer_count + 1 >= DEFERRALS_BEFORE_ESCALATION
        )
        decision = Decision.objects.create(
            item=item,
            prediction=prediction,
            model=model,
            reviewer=user,
            action=action,
            predicted_label=prediction.label,
            final_label=final_label,
            final_output={**(prediction.output or {}), "label": final_label}
            if final_label
            else None,
            reason=reason,
            note=note,
            failure_mode_tags=tags,
            model_confidence=prediction.confidence,
            guideline_version=guideline,
            decided_at=now,
            deliver_after=now + dt.timedelta(seconds=int(settings.REVIEW_UNDO_SECONDS)),
        )
        data = {"decision": decision.pk, "action": action}
        if final_label:
            data["label"] = final_label
        released = dict(_RELEASED)
        if action in (A.ACCEPT, A.OVERRIDE):
            item_transition(
                item=item,
                event="decide",
                actor=actor,
                changes={**released, "decided_at": now},
                data=data,
            )
            Prediction.objects.filter(pk=prediction.pk).update(status=Prediction.Status.DECIDED)
        elif escalates:
            if action == A.DEFER:
                data["auto"] = _("Deferred %(n)s times") % {"n": item.defer_count + 1}
            item_transition(
                item=item,
                event="escalate",
                actor=actor,
                changes={
                    **released,
                    "escalated_at": now,
                    "wake_at": None,
                    "defer_count": item.defer_count + (1 if action == A.DEFER else 0),
                },
                data=data,
            )
        else:  # defer
            if wake_at is not None:
                data["wake_at"] = wake_at.isoformat()
            item_transition(
                item=item,
                event="defer",
                to=S.DEFERRED if wake_at else S.PENDING,
                actor=actor,
                changes={
                    **released,
                    "wake_at": wake_at,
                    "escalated_at": None,
                    "defer_count": item.defer_count + 1,
                },
                data=data,
            )
        _record_occurrences(tags=tags, decision=decision, actor=actor)
    return decision


def decision_undo(*, decision_id: int, user: Any) -> ReviewItem:
    """Take back a decision within the grace period; the item reopens to the same reviewer.

    Refused once ``deliver_after`` has passed: the producer may already have it.
    """
    require_reviewer(user)
    with transaction.atomic():
        qs = Decision.objects.filter(pk=decision_id)
        if connection.vendor == "postgresql":
            qs = qs.select_for_update()
        decision = qs.first()
        if decision is None:
            raise NotFound(_("No decision #%(id)s.") % {"id": decision_id}, field="decision")
        if decision.reviewer_id != user.pk:
            raise PermissionDenied(_("Only the reviewer who decided can undo it."))
        if decision.undone_at is not None:
            raise Conflict(_("This decision was already undone."), code="undone")
        now = timezone.now()
        if decision.deliver_after is None or now >= decision.deliver_after:
            raise Conflict(
                _("Too late to undo: the decision is already on its way to the producer."),
                code="undo_expired",
            )
        later = Decision.objects.filter(
            item_id=decision.item_id, id__gt=decision.pk, undone_at__isnull=True
        )
        if later.exists():
            raise Conflict(_("The item was acted on again since; this decision cannot be undone."))
        item = _get_item(decision.item_id, lock=True)
        if item.status == S.CLAIMED:
            raise Conflict(_("Someone else picked this item up already; it cannot be undone."))
        changes = {**_claim_changes(item, user, now), "decided_at": None}
        if decision.action == A.ESCALATE or (
            decision.action == A.DEFER and item.status == S.ESCALATED
        ):
            changes["escalated_at"] = None
        if decision.action == A.DEFER:
            changes["wake_at"] = None
            changes["defer_count"] = max(0, item.defer_count - 1)
        Decision.objects.filter(pk=decision.pk).update(undone_at=now, undone_by=user)
        item_transition(
            item=item,
            event="undo",
            actor=Actor.user(user),
            expect={"claimed_by__isnull": True},
            changes=changes,
            data={"decision": decision.pk, "action": decision.action},
        )
        if decision.action in (A.ACCEPT, A.OVERRIDE):
            Prediction.objects.filter(pk=decision.prediction_id).update(
                status=Prediction.Status.IN_REVIEW
            )
        # Submit-and-next gave the reviewer the next item; it goes back untouched so they hold
        # only the reopened one.
        for other in ReviewItem.objects.filter(
            claimed_by=user,
            status=S.CLAIMED,
            claimed_at__gte=decision.decided_at,
            assigned_by__isnull=True,
        ).exclude(pk=item.pk):
            item_transition(
                item=other,
                event="release",
                to=_release_target(other),
                actor=Actor.user(user),
                changes=dict(_RELEASED),
                data={"holder": user.pk, "why": "undo"},
            )
        audit_record(
            actor=Actor.user(user),
            verb="decision.undone",
            target=decision,
            before={"undone_at": None},
            after={"undone_at": now.isoformat()},
            data={"item": item.pk},
        )
    return item


# --- beat sweeps ----------------------------------------------------------------------------
def review_leases_expire(*, limit: int = 500) -> int:
    """Return items whose lease ran out to the queue (escalated ones to the leads)."""
    now = timezone.now()
    expired = list(
        ReviewItem.objects.filter(status=S.CLAIMED, claim_expires_at__lt=now).order_by(
            "claim_expires_at"
        )[:limit]
    )
    count = 0
    for item in expired:
        try:
            item_transition(
                item=item,
                event="expire",
                to=_release_target(item),
                actor=SYSTEM,
                # A renewal that landed after we read the row wins.
                expect={"claim_expires_at__lt": now},
                changes=dict(_RELEASED),
                data={"holder": item.claimed_by_id},
            )
            count += 1
        except Conflict:
            continue
    return count


def review_deferred_wake(*, limit: int = 500) -> int:
    now = timezone.now()
    due = list(
        ReviewItem.objects.filter(status=S.DEFERRED, wake_at__lte=now).order_by("wake_at")[:limit]
    )
    count = 0
    for item in due:
        try:
            item_transition(item=item, event="wake", actor=SYSTEM, changes={"wake_at": None})
            count += 1
        except Conflict:
            continue
    return count


def review_sla_sweep(*, limit: int = 1000) -> dict[str, int]:
    """Raise the priority of open items near their deadline (once) and stamp breaches.

    Priority is not a state: it is updated in bulk with one audit event per chunk. A breach is
    audited per item; the delivery worker tells the producer ``timed_out`` and the item stays
    open for the human decision that follows.
    """
    now = timezone.now()
    near = now + dt.timedelta(seconds=int(settings.REVIEW_SLA_NEAR_SECONDS))
    bump = int(settings.REVIEW_SLA_PRIORITY_BUMP)
    with transaction.atomic():
        near_ids = list(
            ReviewItem.objects.filter(
                status__in=OPEN_STATUSES, sla_escalated_at__isnull=True, sla_due_at__lte=near
            )
            .order_by("sla_due_at")
            .values_list("id", flat=True)[:limit]
        )
        if near_ids:
            ReviewItem.objects.filter(id__in=near_ids, sla_escalated_at__isnull=True).update(
                priority=Least(F("priority") + bump, 100), sla_escalated_at=now
            )
            audit_record(
                actor=SYSTEM,
                verb="review_item.sla_near",
                target=("reviewapp.reviewitem", f"{min(near_ids)}..{max(near_ids)}"),
                data={"ids": near_ids, "priority_bump": bump},
            )
        breached = list(
            ReviewItem.objects.filter(
                status__in=OPEN_STATUSES, sla_breached_at__isnull=True, sla_due_at__lte=now
            )
            .order_by("sla_due_at")
            .values("id", "sla_due_at", "status")[:limit]
        )
        if breached:
            ids = [row["id"] for row in breached]
            ReviewItem.objects.filter(id__in=ids, sla_breached_at__isnull=True).update(
                sla_breached_at=now
            )
            audit_record_many(
                build_event(
                    actor=SYSTEM,
                    verb="review_item.sla_breached",
                    target=("reviewapp.reviewitem", row["id"]),
                    before={"sla_breached_at": None},
                    after={"sla_breached_at": now.isoformat()},
                    data={"sla_due_at": row["sla_due_at"].isoformat(), "status": row["status"]},
                )
                for row in breached
            )
    return {"near": len(near_ids), "breached": len(breached)}


# --- pools and guidelines -------------------------------------------------------------------
def pool_member_add(*, model: Any, user: Any, by: Any) -> PoolMembership:
    require_lead(by)
    if not can_review(user):
        raise ServiceError(
            _("Not a reviewer."),
            errors={
                "user": [
                    _("%(name)s has no reviewer or lead role.") % {"name": user.get_username()}
                ]
            },
            status=422,
        )
    with transaction.atomic():
        membership, created = PoolMembership.objects.get_or_create(
            model=model, user=user, defaults={"added_by": by}
        )
        if created:
            audit_record(
                actor=Actor.user(by),
                verb="pool.member_added",
                target=model,
                data={"user": user.pk, "username": user.get_username()},
            )
    return membership


def pool_member_remove(*, model: Any, user: Any, by: Any) -> bool:
    require_lead(by)
    with transaction.atomic():
        deleted, _rows = PoolMembership.objects.filter(model=model, user=user).delete()
        if deleted:
            audit_record(
                actor=Actor.user(by),
                verb="pool.member_removed",
                target=model,
                data={"user": user.pk, "username": user.get_username()},
            )
    return bool(deleted)


def render_guideline(body: str) -> str:
    """Markdown to HTML, then sanitised: only harmless tags and attributes survive."""
    import markdown
    import nh3

    html = markdown.markdown(body, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(html, link_rel="noopener noreferrer nofollow")


def guideline_publish(*, model: Any, body: str, note: str = "", by: Any) -> GuidelineVersion:
    require_lead(by)
    body = (body or "").strip()
    errors: dict[str, list[str]] = {}
    if not body:
        errors["body"] = [_("Write the guideline (Markdown).")]
    elif len(body) > 50_000:
        errors["body"] = [_("At most 50,000 characters.")]
    if len(note or "") > 300:
        errors["note"] = [_("At most 300 characters.")]
    if errors:
        raise ServiceError(_("The guideline has problems."), errors=errors)
    with transaction.atomic():
        from reviewapp.models import MLModel

        # Serialise publishers of one model so versions stay 1, 2, 3…
        MLModel.objects.select_for_update().filter(pk=model.pk).first()
        last = GuidelineVersion.objects.filter(model=model).order_by("-version").first()
        version = GuidelineVersion.objects.create(
            model=model,
            version=(last.version + 1) if last else 1,
            body=body,
            html=render_guideline(body),
            note=(note or "").strip(),
            created_by=by,
        )
        audit_record(
            actor=Actor.user(by),
            verb="guideline.published",
            target=version,
            data={"model": model.slug, "version": version.version},
        )
    return version


def user_by_name(username: str) -> Any:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ServiceError(
            _("Unknown user."), errors={"assignee": [_("No user named '%(u)s'.") % {"u": username}]}
        )
    return user


def queue_counts_refresh(*, only_if_due: bool = False) -> QueueCountSnapshot:
    """Recount open items for the queue list's filter counts (beat, every few seconds).

    With ``only_if_due`` (beat's call) a snapshot younger than 100 times the time its count
    took is kept: at a million open items a recount takes ~0.4 s of one core, so it runs
    about every 40 s instead of every 15 s and never takes more than ~1 % of a core. The
    wait is capped at half of REVIEW_COUNTS_STALE_SECONDS, so pages never fall back to
    counting themselves while beat runs.

    Not audited: a derived figure, not a state change.
    """
    import time

    from reviewapp.queue_selectors import count_rows

    now = timezone.now()
    if only_if_due:
        current = QueueCountSnapshot.objects.filter(pk=1).first()
        if current is not None:
            wait_ms = min(current.took_ms * 100, int(settings.REVIEW_COUNTS_STALE_SECONDS) * 500)
            if current.computed_at + dt.timedelta(milliseconds=wait_ms) > now:
                return current
    started = time.perf_counter()
    rows = count_rows(now)
    took = int((time.perf_counter() - started) * 1000)
    snapshot, _created = QueueCountSnapshot.objects.update_or_create(
        pk=1, defaults={"rows": rows, "computed_at": now, "took_ms": took}
    )
    return snapshot

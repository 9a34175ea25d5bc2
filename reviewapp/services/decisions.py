"""Deciding a claimed item (accept, override, escalate, defer) and undoing a decision.

Every decision is delivered only after ``deliver_after`` (the Undo grace period).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from reviewapp.core import clock, registry, state
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.db_router import reads_from_primary
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.governance.models import PolicyVersion
from reviewapp.models import (
    Decision,
    GuidelineVersion,
    Purpose,
    ReviewItem,
)
from reviewapp.selectors.purposes import UNCOUNTED

from .claims import (
    RELEASED_CLAIM,
    check_holder,
    claim_changes,
    get_item,
    release_target,
    require_reviewer,
)
from .escalations import escalated_count_forget, escalation_notify
from .review_state import PREDICTION, item_transition

logger = logging.getLogger(__name__)
S = ReviewItem.Status
A = Decision.Action
MAX_TEXT = 2000
# ``fn(decision=, item=)``, in the deciding transaction, after every decision of any action.
DECISION_RECORDED_HOOK = "queue.decision_recorded"
# ``fn(decision=, item=, user=)``, in the undoing transaction.
DECISION_UNDONE_HOOK = "queue.decision_undone"
# Suggestion masking: on a masked item the reviewer picks a label without seeing the model's;
# the service records an accept or an override by comparing the two (docs/quality/masking.md).
LABEL = "label"


# --- deciding -------------------------------------------------------------------------------
def failure_mode_choices() -> list[catalog_selectors.FailureModeChoice]:
    """The catalog failure modes a reviewer may tag a decision with."""
    return catalog_selectors.failure_mode_choices()


def _record_occurrences(*, tags: list[str], decision: Decision, purpose: str, actor: Actor) -> None:
    if purpose in UNCOUNTED:
        # Gold and qualification items test the reviewer, not the model: their tags stay on
        # the decision but never count as occurrences of a failure mode.
        return
    for slug in tags:
        catalog_services.occurrence_record(
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
    known = {choice.slug for choice in failure_mode_choices()} if cleaned else set()
    for tag in cleaned:
        if tag not in known:
            errors.setdefault("failure_mode_tags", []).append(
                _("'%(tag)s' is not a failure mode in the catalog.") % {"tag": tag}
            )
    return cleaned


def _masked_action(item: ReviewItem, label: str, errors: dict[str, list[str]]) -> str:
    """The action a picked label on a masked item records: accept when it is the model's
    label, override otherwise. Only a masked item takes a picked label; an empty or unknown
    label is an error on ``label`` (and the action falls back to one that adds no more)."""
    if not item.suggestion_masked:
        raise ServiceError(
            _("Only an item whose model answer is hidden takes a picked label."),
            errors={"action": [_("This item shows the model's answer: accept or override it.")]},
        )
    label = (label or "").strip()
    labels = item.model.labels or []
    if not label:
        errors.setdefault("label", []).append(_("Pick the label you think is right."))
    elif label not in labels:
        errors.setdefault("label", []).append(
            _("'%(label)s' is not one of this model's labels (%(labels)s).")
            % {"label": label, "labels": ", ".join(labels)}
        )
    else:
        return A.ACCEPT if label == item.prediction.label else A.OVERRIDE
    return A.ACCEPT


@reads_from_primary()  # claims and decisions never read the replica (core/db_router.py)
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
    deferral that reaches the routing policy's ``escalation.deferrals_before_escalation``
    (default 3) escalates instead.
    """
    require_reviewer(user)
    errors: dict[str, list[str]] = {}
    if action not in (*A.values, LABEL):
        raise ServiceError(
            _("Unknown action."),
            errors={"action": [_("Choose accept, override, escalate or defer.")]},
        )
    reason = _clean_text(reason, "reason", errors)
    note = _clean_text(note, "note", errors)
    tags = _clean_tags(failure_mode_tags, errors)
    with transaction.atomic():
        item = get_item(item_id, lock=True)
        check_holder(item, user, generation)
        prediction = item.prediction
        model = item.model
        final_label = ""
        # --- suggestion masking: "label" becomes an accept or an override ---
        masked_label = action == LABEL
        if masked_label:
            action = _masked_action(item, label, errors)
            label = (label or "").strip()
        # --- end suggestion masking ---
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
            # A masked item's reviewer never saw the model's answer: a reason is welcome, not
            # required (they picked a label, they did not argue with the model).
            if not reason and not masked_label:
                errors.setdefault("reason", []).append(_("Say why the model was wrong."))
            final_label = label
        elif action == A.ESCALATE:
            if not note:
                errors.setdefault("note", []).append(_("Tell the lead what you need from them."))
        elif action == A.DEFER:
            if not note:
                errors.setdefault("note", []).append(_("Say why you are deferring."))
            if wake_at is not None:
                now = clock.now()
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

        now = clock.now()
        actor = Actor.user(user)
        escalates = action == A.ESCALATE
        if action == A.DEFER:
            # The policy version that routed the item says how many deferrals it tolerates.
            escalation = PolicyVersion.objects.escalation_for(prediction.policy_version_id)
            escalates = item.defer_count + 1 >= escalation.deferrals_before_escalation
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
            suggestion_shown=not item.suggestion_masked,
            guideline_version=guideline,
            decided_at=now,
            claimed_at=item.claimed_at,
            deliver_after=now + dt.timedelta(seconds=int(settings.REVIEW_UNDO_SECONDS)),
        )
        data = {"decision": decision.pk, "action": action}
        if final_label:
            data["label"] = final_label
        released = dict(RELEASED_CLAIM)
        if action in (A.ACCEPT, A.OVERRIDE):
            item_transition(
                item=item,
                event="decide",
                actor=actor,
                changes={**released, "decided_at": now},
                data=data,
            )
            if item.purpose == Purpose.ROUTED:
                # The item's decided event covers the prediction: no event of its own. Only
                # the routed item moves the prediction: a sample, recheck or second review is
                # recorded on its own item (a passed or halted prediction stays so; its routing
                # record never changes), and reaches the producer as a correction if at all.
                state.apply_many(PREDICTION, event="decide", ids=[prediction.pk])
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
            escalation_notify(item=item, decision=decision, auto=action == A.DEFER)
        else:  # defer
            if wake_at is not None:
                data["wake_at"] = wake_at.isoformat()
                # The reviewer chose when it comes back: then it is an ordinary item again.
                behind: dict[str, Any] = {
                    "requeued": False,
                    "deferred_by": None,
                    "deferred_by_until": None,
                }
            else:
                # Back in the queue at once, behind the others of its band, and to someone
                # else first: the reviewer who deferred it does not get it again for a while.
                until = now + dt.timedelta(minutes=int(settings.QUEUE_DEFER_EXCLUSION_MINUTES))
                behind = {"requeued": True, "deferred_by": user, "deferred_by_until": until}
                data["not_for_deferrer_until"] = until.isoformat()
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
                    **behind,
                },
                data=data,
            )
        _record_occurrences(tags=tags, decision=decision, purpose=item.purpose, actor=actor)
        # Review quality (reviewapp/quality) scores gold, holds a decision for a blind second
        # review, or compares a second review with the first, in this transaction.
        registry.run_hooks(DECISION_RECORDED_HOOK, decision=decision, item=item)
    return decision


@reads_from_primary()  # claims and decisions never read the replica (core/db_router.py)
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
        now = clock.now()
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
        item = get_item(decision.item_id, lock=True)
        if item.status == S.CLAIMED:
            raise Conflict(_("Someone else picked this item up already; it cannot be undone."))
        changes = {**claim_changes(item, user, now), "decided_at": None}
        if decision.action == A.ESCALATE or (
            decision.action == A.DEFER and item.status == S.ESCALATED
        ):
            changes["escalated_at"] = None
            transaction.on_commit(escalated_count_forget)
        if decision.action == A.DEFER:
            changes["wake_at"] = None
            changes["defer_count"] = max(0, item.defer_count - 1)
            changes.update(requeued=False, deferred_by=None, deferred_by_until=None)
        Decision.objects.filter(pk=decision.pk).update(undone_at=now, undone_by=user)
        item_transition(
            item=item,
            event="undo",
            actor=Actor.user(user),
            expect={"claimed_by__isnull": True},
            changes=changes,
            data={"decision": decision.pk, "action": decision.action},
        )
        if decision.action in (A.ACCEPT, A.OVERRIDE) and item.purpose == Purpose.ROUTED:
            # The item's reopened event covers the prediction: no event of its own.
            state.apply_many(PREDICTION, event="reopen", ids=[decision.prediction_id])
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
                to=release_target(other),
                actor=Actor.user(user),
                changes=dict(RELEASED_CLAIM),
                data={"holder": user.pk, "why": "undo"},
            )
        registry.run_hooks(DECISION_UNDONE_HOOK, decision=decision, item=item, user=user)
        audit_record(
            actor=Actor.user(user),
            verb="queue.decision.undone",
            target=decision,
            before={"undone_at": None},
            after={"undone_at": now.isoformat()},
            data={"item": item.pk},
        )
    return item

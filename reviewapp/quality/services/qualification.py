"""Qualification: a new pool member first decides a set of gold items (the model's
``qualification_size``) served to them alone, and takes live items only after getting at least
``qualification_pass`` of them right.

The set is the member's qualification servings with the latest ``served_at`` (a set is served
in one statement, with one time), so a restart after a failed set starts a fresh count. The
claim offers a qualifying member only the items served to them (reviewapp/services/review_state.py).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from reviewapp.core import clock, notifications
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict
from reviewapp.models import Decision, PoolMembership, Purpose, ReviewItem

from ..models import GoldItem, GoldServing, QualityAlert
from ..settings import quality_settings
from .alerts import alert_raise
from .people_common import REVIEWER_STATE, membership_for_update, require_lead

R = GoldServing.Result
# Qualification items come before anything else the member could be served.
PRIORITY = 100
DEFAULT_SLA = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    correct: int

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done == self.total


def _actor(by: Any) -> Actor:
    return Actor.user(by) if by is not None else Actor.system("quality")


def current_set(*, model_id: int, user_id: int) -> list[GoldServing]:
    servings = GoldServing.objects.filter(
        model_id=model_id, reviewer_id=user_id, qualification=True
    )
    latest = servings.order_by("-served_at").values_list("served_at", flat=True).first()
    if latest is None:
        return []
    return list(servings.filter(served_at=latest).order_by("pk"))


def progress(*, model_id: int, user_id: int) -> Progress:
    rows = current_set(model_id=model_id, user_id=user_id)
    return Progress(
        done=sum(1 for s in rows if s.result != R.PENDING),
        total=len(rows),
        correct=sum(1 for s in rows if s.result == R.CORRECT),
    )


def _sla(gold: GoldItem) -> dt.timedelta:
    source = gold.source_item
    span = source.sla_due_at - source.created_at if source else DEFAULT_SLA
    return span if span > dt.timedelta(0) else DEFAULT_SLA


def qualification_serve(*, membership: PoolMembership, by: Any) -> int:
    """Serve a set to ``membership``'s member (in the caller's transaction); 0 and an audited
    reason when the model has too few active gold items they have not been served yet."""
    model = membership.model
    size = quality_settings(model.slug)["qualification_size"]
    if size <= 0:
        return 0
    seen = ReviewItem.objects.filter(
        model=model, purpose=Purpose.QUALIFICATION, for_reviewer_id=membership.user_id
    ).values_list("prediction_id", flat=True)
    candidates = list(
        GoldItem.objects.filter(model=model, retired_at__isnull=True)
        .exclude(prediction_id__in=seen)
        .select_related("source_item")
        .order_by("pk")
    )
    if len(candidates) < size:
        audit_record(
            actor=_actor(by),
            verb="quality.qualification.skipped",
            target=model,
            data={
                "user": membership.user_id,
                "size": size,
                "gold_available": len(candidates),
                "why": "not enough active gold items the member has not seen",
            },
            subjects={"auth.user": [membership.user_id]},
        )
        return 0
    chosen = random.SystemRandom().sample(candidates, size)
    now = clock.now()
    items = ReviewItem.objects.bulk_create(
        ReviewItem(
            prediction_id=gold.prediction_id,
            model=model,
            purpose=Purpose.QUALIFICATION,
            for_reviewer_id=membership.user_id,
            priority=PRIORITY,
            sla_due_at=now + _sla(gold),
            created_at=now,
            updated_at=now,
        )
        for gold in chosen
    )
    if any(item.pk is None for item in items):  # databases without RETURNING
        by_prediction = dict(
            ReviewItem.objects.filter(
                purpose=Purpose.QUALIFICATION,
                for_reviewer_id=membership.user_id,
                prediction_id__in=[g.prediction_id for g in chosen],
            ).values_list("prediction_id", "pk")
        )
        for item in items:
            item.pk = item.id = by_prediction[item.prediction_id]
    GoldServing.objects.bulk_create(
        GoldServing(
            gold=gold,
            item=item,
            reviewer_id=membership.user_id,
            model=model,
            qualification=True,
            served_at=now,
            adversarial=gold.adversarial,
        )
        for gold, item in zip(chosen, items, strict=True)
    )
    PoolMembership.objects.filter(pk=membership.pk).update(qualifying=True, qualified_at=None)
    membership.qualifying, membership.qualified_at = True, None
    audit_record(
        actor=_actor(by),
        verb="quality.qualification.started",
        target=model,
        data={"user": membership.user_id, "size": size, "items": [i.pk for i in items]},
        subjects={"auth.user": [membership.user_id], "reviewapp.reviewitem": [i.pk for i in items]},
    )
    return size


def member_added(*, membership: PoolMembership, by: Any) -> None:
    """The queue's ``queue.pool_member_added`` hook: the current guideline to read, then a
    qualification set to pass (both when the model's settings ask for them)."""
    from .guidelines import guideline_required_at_join

    guideline_required_at_join(membership=membership, by=by)
    qualification_serve(membership=membership, by=by)


def qualification_restart(*, model_id: int, user_id: int, by: Any) -> int:
    """A lead serves a fresh set to a member whose last set is finished (failed), or a first
    one to a member who joined without one (too few gold items then)."""
    require_lead(by)
    with transaction.atomic():
        membership = membership_for_update(model_id=model_id, user_id=user_id)
        if not membership.qualifying and membership.qualified_at is not None:
            raise Conflict(_("This reviewer has already qualified."), field="user_id")
        now = progress(model_id=model_id, user_id=user_id)
        if now.total and not now.complete:
            raise Conflict(
                _("They are still deciding their set (%(done)s of %(total)s done).")
                % {"done": now.done, "total": now.total},
                field="user_id",
            )
        served = qualification_serve(membership=membership, by=by)
        if not served:
            raise Conflict(
                _("Not enough active gold items they have not seen yet: mark more gold first."),
                field="user_id",
            )
    return served


def _score(serving: GoldServing, decision: Decision) -> None:
    """Score one qualification answer, unless the gold scorer already did."""
    if serving.result != R.PENDING:
        return
    if decision.action == Decision.Action.ESCALATE:
        result = R.WRONG  # a qualifying member must decide; escalating counts as wrong
    else:
        result = R.CORRECT if decision.final_label == serving.gold.label else R.WRONG
    serving.result = result
    serving.decision = decision
    serving.answered_label = decision.final_label
    serving.scored_at = clock.now()
    serving.save(update_fields=["result", "decision", "answered_label", "scored_at"])


def qualification_decided(*, decision: Decision, item: ReviewItem) -> None:
    """``on_decided("qualification")``: score the answer; when the set is complete, pass or
    fail the member."""
    if decision.action == Decision.Action.DEFER:
        return
    serving = (
        GoldServing.objects.select_for_update(of=("self",))
        .select_related("gold")
        .filter(item=item)
        .first()
    )
    if serving is None:
        return
    _score(serving, decision)
    membership = (
        PoolMembership.objects.select_for_update(of=("self",))
        .select_related("model", "user")
        .filter(model_id=item.model_id, user_id=serving.reviewer_id)
        .first()
    )
    if membership is None or not membership.qualifying:
        return
    now = progress(model_id=item.model_id, user_id=serving.reviewer_id)
    if not now.complete:
        return
    bound = quality_settings(membership.model.slug)["qualification_pass"]
    accuracy = now.correct / now.total
    figures = {"correct": now.correct, "total": now.total, "accuracy": round(accuracy, 3),
               "bound": bound}  # fmt: skip
    if accuracy >= bound:
        membership.qualifying = False
        membership.qualified_at = clock.now()
        membership.save(update_fields=["qualifying", "qualified_at"])
        audit_record(
            actor=Actor.system("quality"),
            verb="quality.qualification.passed",
            target=membership.model,
            data={"user": membership.user_id, **figures},
            subjects={"auth.user": [membership.user_id]},
        )
        notifications.notify(
            recipients=[membership.user_id],
            kind=REVIEWER_STATE,
            title=_("You passed qualification for %(model)s: live items are yours now")
            % {"model": membership.model.slug},
            link=reverse("queue:list"),
        )
        return
    audit_record(
        actor=Actor.system("quality"),
        verb="quality.qualification.failed",
        target=membership.model,
        data={"user": membership.user_id, **figures},
        subjects={"auth.user": [membership.user_id]},
    )
    alert_raise(
        kind=QualityAlert.Kind.QUALIFICATION_FAILED,
        reviewer=membership.user,
        model=membership.model,
        figures=figures,
    )


def qualification_undone(*, decision: Decision, item: ReviewItem, user: Any) -> None:
    """``on_undone("qualification")``: an undone answer is not scored any more, while the
    member is still qualifying (a pass already granted stands; the lead may restart)."""
    serving = (
        GoldServing.objects.select_for_update(of=("self",))
        .filter(item=item, decision=decision)
        .first()
    )
    if serving is None:
        return
    qualifying = PoolMembership.objects.filter(
        model_id=item.model_id, user_id=serving.reviewer_id, qualifying=True
    ).exists()
    if not qualifying:
        return
    serving.result = R.PENDING
    serving.decision = None
    serving.answered_label = ""
    serving.scored_at = None
    serving.save(update_fields=["result", "decision", "answered_label", "scored_at"])

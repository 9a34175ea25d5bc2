"""Gold items: a lead marks a decided item's prediction as gold (the answer is known and agreed),
beat serves gold, unmarked, into reviewers' queues at the model's ``gold_rate``, and a
reviewer's decision on a served gold item is scored against the known answer.

Nothing here is visible to reviewers: a served gold item is a review item of purpose ``gold``
for one reviewer (``ReviewItem.for_reviewer``), whose page looks like a routed item's; the
serving and its score are quality rows only leads, engineers and the committee read, and the
audit events (which reviewers cannot read) target the gold item or the serving, never the
served review item, so the item's history names none of them.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import clock, roles
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.governance.rules import NO_POLICY_SLA_MINUTES, TIER_PRIORITY
from reviewapp.governance.selectors import active_policies
from reviewapp.models import (
    Decision,
    MLModel,
    PoolMembership,
    Prediction,
    Purpose,
    ReviewItem,
)
from reviewapp.selectors.visibility import is_service

from ..models import GoldItem, GoldServing
from ..settings import quality_settings

# Items whose decision cannot be gold's source: they are gold (or qualification) themselves.
NOT_SOURCES = (Purpose.GOLD, Purpose.QUALIFICATION)
# Live work: the decisions that earn a reviewer the next gold item.
LIVE_PURPOSES = (
    Purpose.ROUTED,
    Purpose.SHIFT_SAMPLE,
    Purpose.MODE_SAMPLE,
    Purpose.INCIDENT_RECHECK,
)
FINAL = (Decision.Action.ACCEPT, Decision.Action.OVERRIDE)
RATIONALE_MAX = 2000
REASON_MAX = 500
# With no gold served yet, the decisions of this window count towards the first one.
FIRST_WINDOW = dt.timedelta(hours=24)
SYSTEM = Actor.system("quality.gold")


def may_read_gold(user: Any) -> bool:
    """Leads, engineers and the committee; never a reviewer (they must not learn what is
    gold), never a service token."""
    if is_service(user) or not getattr(user, "is_authenticated", False):
        return False
    return roles.has_role(user, roles.LEAD, roles.ENGINEER, roles.COMMITTEE)


def may_mark_gold(user: Any) -> bool:
    return not is_service(user) and roles.has_role(user, roles.LEAD)


def _require_lead(user: Any) -> None:
    if not may_mark_gold(user):
        raise PermissionDenied(_("Only leads mark and retire gold items."))


def final_decision_of(item: ReviewItem) -> Decision | None:
    """The decision that stands on ``item``: its latest final one not undone."""
    return (
        Decision.objects.filter(item=item, action__in=FINAL, undone_at__isnull=True)
        .order_by("-decided_at", "-id")
        .first()
    )


def _clean(value: Any, field: str, limit: int) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None:
        raise ServiceError(_("Must be text."), errors={field: [_("Must be text.")]})
    if len(text) > limit:
        message = _("At most %(n)s characters.") % {"n": limit}
        raise ServiceError(message, errors={field: [message]})
    return text


def gold_mark(
    *,
    item_id: int,
    label: str = "",
    rationale: str = "",
    user: Any,
    origin: str = GoldItem.Origin.MARKED,
) -> GoldItem:
    """Mark the prediction of the decided item ``item_id`` as gold with the known answer
    ``label`` (empty: the item's final decision's label). An answer that differs from that
    decision needs a ``rationale``. ``origin`` "adjudicated": called by the adjudication of a
    disagreement, whose answer the lead just gave."""
    _require_lead(user)
    rationale = _clean(rationale, "rationale", RATIONALE_MAX)
    label = _clean(label, "label", 200)
    if origin not in GoldItem.Origin.values:
        raise ServiceError(_("Unknown origin."), errors={"origin": [_("Unknown origin.")]})
    with transaction.atomic():
        item = ReviewItem.objects.select_related("model", "prediction").filter(pk=item_id).first()
        if item is None:
            raise NotFound(_("No such review item."), field="item_id")
        if item.purpose in NOT_SOURCES:
            raise ServiceError(
                _("A gold or qualification item cannot be the source of gold."),
                errors={"item_id": [_("Pick the decided live item instead.")]},
            )
        if item.status != ReviewItem.Status.DECIDED:
            raise Conflict(_("Only a decided item can be marked as gold."), field="item_id")
        # One gold per prediction: the prediction's row lock orders two leads marking it at once
        # (two items of one prediction, e.g. routed and shift sample, share it).
        prediction = Prediction.objects.select_for_update().get(pk=item.prediction_id)
        if GoldItem.objects.filter(prediction=prediction).exists():
            raise Conflict(_("This prediction is already gold."), field="item_id")
        decision = final_decision_of(item)
        if decision is None:
            raise Conflict(
                _("The item has no final decision to take the answer from."), field="item_id"
            )
        model = item.model
        answer = label or decision.final_label
        if answer not in (model.labels or []):
            message = _("'%(label)s' is not one of this model's labels (%(labels)s).") % {
                "label": answer,
                "labels": ", ".join(model.labels or []),
            }
            raise ServiceError(message, errors={"label": [message]})
        if answer != decision.final_label and not rationale:
            message = _(
                "The answer differs from the decision (%(label)s): say why it is the right one."
            ) % {"label": decision.final_label}
            raise ServiceError(message, errors={"rationale": [message]})
        gold = GoldItem.objects.create(
            model=model,
            prediction=prediction,
            source_item=item,
            label=answer,
            model_label=prediction.label,
            adversarial=answer != prediction.label,
            rationale=rationale,
            origin=origin,
            marked_by=user,
            marked_at=clock.now(),
        )
        audit_record(
            actor=Actor.user(user),
            verb="quality.gold_item.marked",
            target=gold,
            after=gold_state(gold),
            data={
                "item": item.pk,
                "prediction": prediction.pk,
                "model": model.slug,
                "decision": decision.pk,
                "decision_label": decision.final_label,
            },
        )
    return gold


def gold_state(gold: GoldItem) -> dict[str, Any]:
    return {
        "label": gold.label,
        "model_label": gold.model_label,
        "adversarial": gold.adversarial,
        "origin": gold.origin,
        "retired": gold.retired_at is not None,
    }


def gold_retire(*, gold_id: int, reason: str, user: Any) -> GoldItem:
    """Serve ``gold_id`` no more (items already served stay and are still scored)."""
    _require_lead(user)
    reason = _clean(reason, "reason", REASON_MAX)
    if not reason:
        message = _("Say why this gold item is retired.")
        raise ServiceError(message, errors={"reason": [message]})
    with transaction.atomic():
        gold = GoldItem.objects.select_for_update().filter(pk=gold_id).first()
        if gold is None:
            raise NotFound(_("No such gold item."), field="gold")
        if gold.retired_at is not None:
            raise Conflict(_("This gold item is already retired."), field="gold")
        before = gold_state(gold)
        gold.retired_at = clock.now()
        gold.retired_by = user
        gold.retire_reason = reason
        gold.save(update_fields=["retired_at", "retired_by", "retire_reason"])
        audit_record(
            actor=Actor.user(user),
            verb="quality.gold_item.retired",
            target=gold,
            before=before,
            after=gold_state(gold),
            data={"reason": reason},
        )
    return gold


# --- serving ------------------------------------------------------------------------------


def _live_priority_and_sla(model: MLModel, rules: dict[str, Any] | None) -> tuple[int, int]:
    """What a live item of ``model`` gets now: the median priority of its pending routed items
    (so the gold item sits among them), else of its latest routed items, else its tier's; the
    SLA minutes of its tier under the active policy, as routing gives them (the deadline of an
    item routed at the moment it is served)."""
    tier = model.criticality if model.criticality in TIER_PRIORITY else "high"
    if rules is not None:
        sla = int(rules.get("sla_minutes", {}).get(tier) or NO_POLICY_SLA_MINUTES[tier])
    else:
        sla = NO_POLICY_SLA_MINUTES[tier]
    routed = ReviewItem.objects.filter(model=model, purpose=Purpose.ROUTED)
    priorities = list(
        routed.filter(status=ReviewItem.Status.PENDING).values_list("priority", flat=True)[:1000]
    ) or list(routed.order_by("-id").values_list("priority", flat=True)[:200])
    priority = int(statistics.median_low(priorities)) if priorities else TIER_PRIORITY[tier]
    return priority, sla


def _as_routed(gold: GoldItem, *, default: tuple[int, dt.timedelta]) -> tuple[int, dt.timedelta]:
    """The priority and SLA span routing gave this very prediction (its routed item), so the
    served item sits in the queue as it did when it was live; ``default`` (the model's live
    priority and its tier's SLA) when it was not routed (e.g. a shift sample)."""
    routed = (
        ReviewItem.objects.filter(prediction_id=gold.prediction_id, purpose=Purpose.ROUTED)
        .select_related("prediction")
        .only("priority", "sla_due_at", "sla_escalated_at", "prediction__received_at")
        .first()
    )
    if routed is None or routed.sla_escalated_at is not None:
        # An SLA bump raised the priority since routing: the model's live default is closer.
        return default
    return routed.priority, routed.sla_due_at - routed.prediction.received_at


def live_decisions_since(*, model_id: int, reviewer_id: int, since: dt.datetime) -> int:
    """Final live decisions (not undone) ``reviewer_id`` made on ``model_id`` after ``since``."""
    return Decision.objects.filter(
        model_id=model_id,
        reviewer_id=reviewer_id,
        action__in=FINAL,
        undone_at__isnull=True,
        item__purpose__in=LIVE_PURPOSES,
        decided_at__gt=since,
    ).count()


def gold_candidates(*, model_id: int, reviewer_id: int) -> list[tuple[int, bool]]:
    """(id, adversarial) of the active gold of ``model_id`` that ``reviewer_id`` may be served:
    never one served to them before (live or qualification), never one of a prediction they
    decided themselves (they would remember it)."""
    served = GoldServing.objects.filter(reviewer_id=reviewer_id).values("gold_id")
    decided = Decision.objects.filter(reviewer_id=reviewer_id, model_id=model_id).values(
        "prediction_id"
    )
    return list(
        GoldItem.objects.filter(model_id=model_id, retired_at__isnull=True)
        .exclude(pk__in=served)
        .exclude(prediction_id__in=decided)
        .order_by("id")
        .values_list("id", "adversarial")
    )


def pick_gold(candidates: list[tuple[int, bool]], *, share: float, rng: random.Random) -> int:
    """With probability ``share`` an adversarial one if there is any, else any one."""
    adversarial = [pk for pk, adv in candidates if adv]
    if adversarial and rng.random() < share:
        return rng.choice(adversarial)
    return rng.choice([pk for pk, _adv in candidates])


def gold_serve(*, now: dt.datetime | None = None, rng: random.Random | None = None) -> int:
    """Serve the gold each reviewer has earned (beat, every minute); returns how many.

    For every model with ``gold_rate`` > 0 and active gold, each pool member who takes live
    items and holds no undecided gold item of that model gets one when the live decisions they
    made on it since their last gold serving (the last 24 h for the first) times the rate
    reach 1. Safe to run twice at once: the member's row is locked and re-checked.
    """
    now = now or clock.now()
    rng = rng or random.Random()  # noqa: S311 (sampling, not secrets)
    model_ids = set(
        GoldItem.objects.filter(retired_at__isnull=True).values_list("model_id", flat=True)
    )
    served = 0
    models = list(MLModel.objects.filter(pk__in=model_ids).order_by("slug"))
    policies = active_policies(m.slug for m in models)
    for model in models:
        config = quality_settings(model.slug)
        rate = float(config["gold_rate"])
        if rate <= 0:
            continue
        policy = policies.get(model.slug)
        priority, sla_minutes = _live_priority_and_sla(model, policy.rules if policy else None)
        member_ids = list(
            PoolMembership.objects.filter(
                model=model,
                qualifying=False,
                paused_at__isnull=True,
                guideline_pending=False,
                user__is_active=True,
            )
            .order_by("user_id")
            .values_list("pk", flat=True)
        )
        for membership_id in member_ids:
            served += _serve_one(
                membership_id=membership_id,
                model=model,
                rate=rate,
                share=float(config["adversarial_gold_share"]),
                priority=priority,
                sla_minutes=sla_minutes,
                now=now,
                rng=rng,
            )
    return served


def _serve_one(
    *,
    membership_id: int,
    model: MLModel,
    rate: float,
    share: float,
    priority: int,
    sla_minutes: int,
    now: dt.datetime,
    rng: random.Random,
) -> int:
    with transaction.atomic():
        membership = (
            PoolMembership.objects.select_for_update()
            .select_related("user")
            .filter(pk=membership_id)
            .first()
        )
        if membership is None or not membership.takes_live_items:
            return 0
        reviewer = membership.user
        if (
            ReviewItem.objects.filter(model=model, purpose=Purpose.GOLD, for_reviewer=reviewer)
            .exclude(status=ReviewItem.Status.DECIDED)
            .exists()
        ):
            return 0
        last = (
            GoldServing.objects.filter(reviewer=reviewer, model=model, qualification=False)
            .order_by("-served_at")
            .values_list("served_at", flat=True)
            .first()
        )
        since = last or now - FIRST_WINDOW
        earned = live_decisions_since(model_id=model.pk, reviewer_id=reviewer.pk, since=since)
        # A small tolerance: 50 decisions at 0.02 is one gold item, whatever the float says.
        if earned * rate < 1 - 1e-9:
            return 0
        candidates = gold_candidates(model_id=model.pk, reviewer_id=reviewer.pk)
        if not candidates:
            return 0
        gold = GoldItem.objects.get(pk=pick_gold(candidates, share=share, rng=rng))
        priority, sla = _as_routed(gold, default=(priority, dt.timedelta(minutes=sla_minutes)))
        item = ReviewItem.objects.create(
            prediction_id=gold.prediction_id,
            model=model,
            purpose=Purpose.GOLD,
            for_reviewer=reviewer,
            priority=priority,
            sla_due_at=now + sla,
            created_at=now,
            updated_at=now,
        )
        serving = GoldServing.objects.create(
            gold=gold,
            item=item,
            reviewer=reviewer,
            model=model,
            qualification=False,
            served_at=now,
            adversarial=gold.adversarial,
        )
        audit_record(
            actor=SYSTEM,
            verb="quality.gold_item.served",
            target=gold,
            data={
                "serving": serving.pk,
                "item": item.pk,
                "reviewer": reviewer.get_username(),
                "model": model.slug,
                "earned_by": earned,
            },
        )
    return 1


# --- scoring ------------------------------------------------------------------------------


def gold_serving_score(*, decision: Decision, item: ReviewItem) -> None:
    """``queue.decision_recorded`` for gold and qualification items, in the deciding
    transaction: an accept or override is correct when its label is the gold answer; an
    escalation is recorded as such; a deferral changes nothing (the item stays theirs).
    Only the served reviewer's own decision counts (a lead deciding an escalated gold item
    is not scored)."""
    if decision.action == Decision.Action.DEFER:
        return
    serving = (
        GoldServing.objects.select_for_update().select_related("gold").filter(item=item).first()
    )
    if serving is None or serving.reviewer_id != decision.reviewer_id:
        return
    if serving.result != GoldServing.Result.PENDING:
        return
    if decision.action == Decision.Action.ESCALATE:
        result, answered = GoldServing.Result.ESCALATED, ""
    else:
        answered = decision.final_label
        right = answered == serving.gold.label
        result = GoldServing.Result.CORRECT if right else GoldServing.Result.WRONG
    serving.result = result
    serving.answered_label = answered
    serving.decision = decision
    serving.scored_at = clock.now()
    serving.save(update_fields=["result", "answered_label", "decision", "scored_at"])
    audit_record(
        actor=SYSTEM,
        verb="quality.gold_serving.scored",
        target=serving,
        after={"result": result, "answered_label": answered},
        data={
            "gold": serving.gold_id,
            "decision": decision.pk,
            "reviewer": decision.reviewer_id,
            "qualification": serving.qualification,
        },
    )


def gold_serving_unscore(*, decision: Decision, item: ReviewItem, user: Any) -> None:
    """``queue.decision_undone``: the undone decision's score is withdrawn; the serving is
    pending again until the reviewer decides anew."""
    serving = GoldServing.objects.select_for_update().filter(item=item).first()
    if serving is None or serving.decision_id != decision.pk:
        return
    before = {"result": serving.result, "answered_label": serving.answered_label}
    serving.result = GoldServing.Result.PENDING
    serving.answered_label = ""
    serving.decision = None
    serving.scored_at = None
    serving.save(update_fields=["result", "answered_label", "decision", "scored_at"])
    audit_record(
        actor=SYSTEM,
        verb="quality.gold_serving.reset",
        target=serving,
        before=before,
        after={"result": GoldServing.Result.PENDING},
        data={"gold": serving.gold_id, "decision": decision.pk, "undone_by": user.pk},
    )

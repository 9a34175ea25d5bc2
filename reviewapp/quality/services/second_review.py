"""Blind second review: which routed decisions get one, holding them from delivery, comparing
the two answers, and a lead's adjudication when they differ (docs/quality/double.md).

A routed accept or override is chosen when it is risky (an override of a prediction more
confident than ``risky_override_confidence``, any override on a critical model, the model's or
the final label in ``risky_labels``) or sampled (``second_review_rate``). The first decision is
then ``held`` (the delivery selectors leave it out) and a ``second_review`` item is queued for
anyone in the pool but the first reviewer. Agreement releases the first decision; a
disagreement waits for a lead, whose answer is the one the producer receives.

Undo. Either reviewer may still undo within their grace period: undoing the first decision
cancels the second review (its item stays in the queue; once chosen, a prediction stays
chosen, so an undo cannot re-roll the sampling) and the next first decision reopens it (and is
compared at once if the second answer is already in); undoing the second decision takes the
comparison back (the first decision is held again). A release after agreement is delivered only
after the second decision's own grace period, so an undo never follows a delivery.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import clock, notifications, roles, state
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.state import transition
from reviewapp.models import Decision, Purpose, ReviewItem
from reviewapp.models.ingest import Criticality

from ..models import SecondReview
from ..settings import quality_settings
from .people_common import lead_ids, lead_names

logger = logging.getLogger(__name__)

ST = SecondReview.Status
WHY = SecondReview.Why
A = Decision.Action
FINAL = (A.ACCEPT, A.OVERRIDE)
ADJUDICATION_NEEDED = "quality.adjudication_needed"
REASON_MAX = 2000
# Seedable: tests replace it (``second_review.rng = random.Random(1)``) or its ``random``.
rng = random.Random()

SECOND_REVIEW = state.Machine(
    model=SecondReview,
    events={
        "agree": transition({ST.PENDING}, {ST.AGREED}, "quality.second_review.agreed"),
        "disagree": transition({ST.PENDING}, {ST.ADJUDICATING}, "quality.second_review.disagreed"),
        "adjudicate": transition(
            {ST.ADJUDICATING}, {ST.ADJUDICATED}, "quality.second_review.adjudicated"
        ),
        # The first decision was undone within its grace period.
        "cancel": transition(
            {ST.PENDING, ST.AGREED, ST.ADJUDICATING},
            {ST.CANCELLED},
            "quality.second_review.cancelled",
        ),
        # The first reviewer decided again (cancelled → pending), or the second decision was
        # undone (agreed / adjudicating → pending).
        "reopen": transition(
            {ST.CANCELLED, ST.AGREED, ST.ADJUDICATING},
            {ST.PENDING},
            "quality.second_review.reopened",
        ),
    },
    snapshot={"status": "status", "version": "version"},
    match=("version",),
)


def register_notification_kinds() -> None:
    notifications.register_kind(
        key=ADJUDICATION_NEEDED,
        label=gettext_lazy("Two reviewers disagree: adjudication needed"),
        channels=[notifications.IN_APP],
        description=gettext_lazy(
            "The leads: a blind second review disagreed with the first decision; the "
            "producer receives nothing final until a lead adjudicates."
        ),
        order=70,
    )


COUNT_KEY = "quality:adjudication-count"


def adjudication_count(user: Any = None) -> int:
    """Disagreements waiting for a lead (the leads' nav counter): cached like the
    escalations count, dropped when one starts or ends waiting."""
    n = cache.get(COUNT_KEY)
    if n is None:
        n = SecondReview.objects.filter(status=ST.ADJUDICATING).count()
        cache.set(COUNT_KEY, n, int(settings.REVIEW_ESCALATIONS_COUNT_SECONDS))
    return n


def adjudication_count_forget() -> None:
    cache.delete(COUNT_KEY)


def _apply(review: SecondReview, event: str, actor: Actor, **changes: Any) -> SecondReview:
    if ST.ADJUDICATING in (review.status, SECOND_REVIEW.target(event)):
        transaction.on_commit(adjudication_count_forget)
    return state.apply(
        SECOND_REVIEW,
        instance=review,
        event=event,
        actor=actor,
        changes={"version": review.version + 1, **changes},
        data={"prediction": review.prediction_id, "item": review.second_item_id},
        stale_message=_("This second review changed meanwhile. Reload to see its state."),
    )


def _locked(qs: Any) -> Any:
    return qs.select_for_update() if connection.vendor == "postgresql" else qs


# --- selection ------------------------------------------------------------------------------
def why_second_review(*, decision: Decision, model: Any, quality: dict[str, Any]) -> str | None:
    """Why ``decision`` (a routed accept/override) needs a second review, or None. Risky rules
    first (always), then the sample."""
    if decision.action not in FINAL:
        return None
    override = decision.action == A.OVERRIDE
    if override and decision.model_confidence > float(quality["risky_override_confidence"]):
        return WHY.CONFIDENT_OVERRIDE
    if override and model.criticality == Criticality.CRITICAL:
        return WHY.CRITICAL_OVERRIDE
    risky = set(quality.get("risky_labels") or [])
    if risky & {decision.final_label, decision.predicted_label}:
        return WHY.RISKY_LABEL
    rate = float(quality.get("second_review_rate") or 0)
    if rate > 0 and rng.random() < rate:
        return WHY.SAMPLED
    return None


def _hold(decision: Decision) -> None:
    Decision.objects.filter(pk=decision.pk).update(held=True)
    decision.held = True


def _release(decision: Decision, *, after: Any) -> None:
    Decision.objects.filter(pk=decision.pk).update(held=False, deliver_after=after)
    decision.held, decision.deliver_after = False, after


def maybe_request(*, decision: Decision, item: ReviewItem) -> SecondReview | None:
    """``on_decided("routed")``: hold ``decision`` for a blind second review if it needs one."""
    if decision.action not in FINAL:
        return None
    existing = _locked(SecondReview.objects.filter(prediction_id=item.prediction_id)).first()
    if existing is not None:
        return _redecided(existing, decision)
    model = item.model
    why = why_second_review(decision=decision, model=model, quality=quality_settings(model.slug))
    if why is None:
        return None
    now = clock.now()
    _hold(decision)
    second = ReviewItem.objects.create(
        prediction_id=item.prediction_id,
        model=model,
        purpose=Purpose.SECOND_REVIEW,
        excluded_reviewer_id=decision.reviewer_id,
        priority=item.priority,
        # The routed item's SLA length, from now: its deadline may already be past when the
        # first reviewer decides, and the second review would be born breached.
        sla_due_at=now + max(item.sla_due_at - item.created_at, dt.timedelta(minutes=1)),
        created_at=now,
        updated_at=now,
    )
    review = SecondReview.objects.create(
        model=model,
        prediction_id=item.prediction_id,
        first_decision=decision,
        second_item=second,
        why=why,
        created_at=now,
    )
    audit_record(
        actor=Actor.system("quality"),
        verb="quality.second_review.requested",
        target=review,
        after={"status": review.status},
        data={
            "why": why,
            "prediction": item.prediction_id,
            "first_decision": decision.pk,
            "item": second.pk,
        },
        subjects={"reviewapp.reviewitem": [second.pk, item.pk]},
    )
    return review


def _redecided(review: SecondReview, decision: Decision) -> SecondReview:
    """The first reviewer decided again after an undo: the same second review goes on."""
    if review.status != ST.CANCELLED:
        # Cannot happen through the services (a held decision's undo cancels it first).
        raise Conflict(_("A second review of this prediction is already open."))
    _hold(decision)
    _apply(
        review,
        "reopen",
        Actor.system("quality"),
        first_decision=decision,
        closed_at=None,
    )
    if review.second_decision_id is not None:
        _compare(review, review.second_decision)
    return review


def first_undone(*, decision: Decision, item: ReviewItem, user: Any) -> None:
    """``on_undone("routed")``: the first decision was taken back: cancel its second review."""
    review = _locked(
        SecondReview.objects.filter(
            first_decision_id=decision.pk, status__in=SECOND_REVIEW["cancel"].sources
        )
    ).first()
    if review is not None:
        _apply(review, "cancel", Actor.user(user), closed_at=clock.now())


# --- comparing ------------------------------------------------------------------------------
def compare(*, decision: Decision, item: ReviewItem) -> SecondReview | None:
    """``on_decided("second_review")``: an accept/override of the second review item."""
    if decision.action not in FINAL:
        return None  # escalated or deferred: the item goes on like any other
    review = _locked(SecondReview.objects.filter(second_item_id=item.pk)).first()
    if review is None:
        return None
    SecondReview.objects.filter(pk=review.pk).update(second_decision=decision)
    review.second_decision = decision
    if review.status != ST.PENDING:
        return review  # cancelled: compared when the first reviewer decides again
    return _compare(review, decision)


def _compare(review: SecondReview, second: Decision) -> SecondReview:
    first = Decision.objects.select_related("reviewer").get(pk=review.first_decision_id)
    actor = Actor.system("quality")
    if first.final_label == second.final_label:
        # Delivered once the second reviewer's own grace period is over (their undo is clean).
        after = max(clock.now(), second.deliver_after or clock.now())
        _release(first, after=after)
        _apply(review, "agree", actor, closed_at=clock.now(), final_label=first.final_label)
        return review
    _apply(review, "disagree", actor)
    _notify_leads(review, first=first, second=second)
    return review


def second_undone(*, decision: Decision, item: ReviewItem, user: Any) -> None:
    """``on_undone("second_review")``: take the comparison back; the first decision is held
    again (it was not delivered: its release waited for this grace period)."""
    review = _locked(SecondReview.objects.filter(second_item_id=item.pk)).first()
    if review is None or review.second_decision_id != decision.pk:
        return
    SecondReview.objects.filter(pk=review.pk).update(second_decision=None)
    review.second_decision = None
    if review.status in (ST.AGREED, ST.ADJUDICATING):
        _hold(Decision.objects.get(pk=review.first_decision_id))
        _apply(review, "reopen", Actor.user(user), closed_at=None, final_label="")


def _notify_leads(review: SecondReview, *, first: Decision, second: Decision) -> None:
    review_id, model_slug = review.pk, review.model.slug
    exclude = {first.reviewer_id, second.reviewer_id}

    def send() -> None:
        leads = [pk for pk in lead_ids() if pk not in exclude]
        try:
            with transaction.atomic():
                notifications.notify(
                    recipients=list(leads),
                    kind=ADJUDICATION_NEEDED,
                    title=_("Two reviewers disagree on a %(model)s prediction: adjudicate")
                    % {"model": model_slug},
                    link=reverse("quality:adjudication", args=[review_id]),
                    actor=Actor.system("quality"),
                )
        except Exception:  # a notice never undoes the decision it reports
            logger.exception("Could not tell the leads about second review %s", review_id)

    transaction.on_commit(send)


# --- adjudication ---------------------------------------------------------------------------
def adjudicator_conflict(review: SecondReview, user: Any) -> str:
    """Why ``user`` should not adjudicate ``review`` ("" if nothing stands in the way): they
    were one of the two reviewers and another lead can take it. With no other lead, a party
    may adjudicate (a team of one lead must not be stuck); the audit log shows it."""
    parties = {review.first_decision.reviewer_id}
    if review.second_decision_id:
        parties.add(review.second_decision.reviewer_id)
    if user.pk not in parties:
        return ""
    others = [name for name in lead_names() if name != user.get_username()]
    if not others:
        return ""
    return _(
        "You reviewed this prediction yourself, so another lead adjudicates it: %(names)s."
    ) % {"names": ", ".join(others[:5])}


def second_review_adjudicate(
    *,
    review_id: int,
    label: str,
    reason: str,
    user: Any,
    make_gold: bool = False,
    version: int | None,
) -> SecondReview:
    """A lead's final answer on a disagreement: the one the producer receives.

    The same label as the first decision releases it; another label supersedes it (undone,
    audited) with a new decision by the lead on the routed item. ``make_gold`` also marks the
    prediction gold with the adjudicated answer.
    """
    if not roles.has_role(user, roles.LEAD):
        raise PermissionDenied(_("Only leads adjudicate."))
    errors: dict[str, list[str]] = {}
    label = (label or "").strip()
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [_("Say why this label is the right one.")]
    elif len(reason) > REASON_MAX:
        errors["reason"] = [_("At most %(n)s characters.") % {"n": REASON_MAX}]
    with transaction.atomic():
        review = (
            _locked(SecondReview.objects.select_related("model", "prediction"))
            .filter(pk=review_id)
            .first()
        )
        if review is None:
            raise NotFound(_("No second review #%(id)s.") % {"id": review_id}, field="review")
        model, prediction = review.model, review.prediction
        if not label:
            errors["label"] = [_("Pick the final label.")]
        elif label not in (model.labels or []):
            errors["label"] = [
                _("'%(label)s' is not one of this model's labels (%(labels)s).")
                % {"label": label, "labels": ", ".join(model.labels or [])}
            ]
        if errors:
            raise ServiceError(_("The adjudication has problems."), errors=errors)
        conflict = adjudicator_conflict(review, user)
        if conflict:
            raise PermissionDenied(conflict, field="review")
        if review.status != ST.ADJUDICATING:
            raise Conflict(
                _("This second review is %(status)s; there is nothing to adjudicate.")
                % {"status": review.get_status_display().lower()},
                code="invalid_state",
            )
        if version is not None and version != review.version:
            raise Conflict(
                _("This adjudication changed since you opened it. Reload to see its state."),
                field="version",
                code="stale",
            )
        now = clock.now()
        actor = Actor.user(user)
        first = Decision.objects.get(pk=review.first_decision_id)
        if label == first.final_label:
            _release(first, after=now)
            final = first
        else:
            Decision.objects.filter(pk=first.pk).update(undone_at=now, undone_by=user)
            audit_record(
                actor=actor,
                verb="quality.decision.superseded",
                target=first,
                before={"undone_at": None},
                after={"undone_at": now.isoformat()},
                data={"second_review": review.pk, "item": first.item_id, "label": label},
            )
            final = Decision.objects.create(
                item_id=first.item_id,
                prediction=prediction,
                model=model,
                reviewer=user,
                action=A.ACCEPT if label == prediction.label else A.OVERRIDE,
                predicted_label=prediction.label,
                final_label=label,
                final_output={**(prediction.output or {}), "label": label},
                reason=reason,
                model_confidence=prediction.confidence,
                decided_at=now,
                deliver_after=now,
                held=False,
            )
        _apply(
            review,
            "adjudicate",
            actor,
            adjudicated_by=user,
            adjudicated_at=now,
            final_label=label,
            adjudication_reason=reason,
            final_decision=final,
            closed_at=now,
        )
        if make_gold:
            from . import gold  # the gold part's service (reviewapp/quality/services/gold.py)

            gold.gold_mark(
                item_id=first.item_id,
                label=label,
                rationale=reason,
                user=user,
                origin="adjudicated",
            )
    return review

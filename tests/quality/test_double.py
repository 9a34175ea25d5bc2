"""Blind second review and adjudication (reviewapp/quality/services/second_review.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from reviewapp.core import clock
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.core.notifications import Notification
from reviewapp.delivery.selectors import label_decisions, producer_decisions
from reviewapp.governance.review_quality import DEFAULTS
from reviewapp.models import Decision, Purpose, ReviewItem
from reviewapp.quality.models import GoldItem, SecondReview
from reviewapp.quality.services import second_review as sr
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.decisions import decision_undo
from tests.factories import MLModelFactory, UserFactory, make_policy
from tests.reviewapp import test_queue_fixtures as fx

pooled_reviewer = fx.pooled_reviewer
other_reviewer = fx.other_reviewer
pytestmark = pytest.mark.django_db
ST = SecondReview.Status


class Always:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.fixture
def quality(monkeypatch):
    """The model's review-quality settings, as a dict the test changes."""
    values = dict(DEFAULTS)
    monkeypatch.setattr(sr, "quality_settings", lambda slug: values)
    monkeypatch.setattr(sr, "rng", Always(0.99))
    return values


@pytest.fixture
def lenient_model(db, pooled_reviewer, other_reviewer):
    """A model that is not critical (so an override is not risky by itself)."""
    from reviewapp.models import PoolMembership

    model = MLModelFactory(slug="card-fraud-eu", labels=["fraud", "legit"], criticality="medium")
    make_policy(model)
    for user in (pooled_reviewer, other_reviewer):
        PoolMembership.objects.create(model=model, user=user)
    return model


def later(minutes: int = 5) -> dt.datetime:
    return clock.now() + dt.timedelta(minutes=minutes)


def first_decision(model, user, action="accept", *, confidence=0.55, predicted=None, **fields):
    """A routed item of ``model`` predicting ``predicted``, claimed and decided by ``user``; an
    override picks the other label unless ``label`` says."""
    predicted = predicted or model.labels[0]
    fx.make_items(model, 1, confidence=confidence, label=predicted)
    item = review_item_claim_next(user=user)
    if action == "override":
        fields.setdefault("reason", "looks wrong")
        fields.setdefault("label", next(lb for lb in model.labels if lb != predicted))
    return item, fx.decide(item, user, action, **fields)


def second_item(review: SecondReview, user):
    item = review_item_claim_next(user=user)
    assert item is not None and item.pk == review.second_item_id
    return item


# --- selection ------------------------------------------------------------------------------
def test_any_override_on_a_critical_model_is_held_for_a_second_review(
    quality, fraud_model, pooled_reviewer
):
    item, decision = first_decision(fraud_model, pooled_reviewer, "override", predicted="fraud")
    first = Decision.objects.get(item=item)
    review = SecondReview.objects.get(prediction_id=item.prediction_id)
    assert review.why == SecondReview.Why.CRITICAL_OVERRIDE
    assert review.first_decision_id == first.pk and review.status == ST.PENDING
    assert first.held is True
    second = review.second_item
    assert second.purpose == Purpose.SECOND_REVIEW
    assert second.excluded_reviewer_id == pooled_reviewer.pk
    assert second.priority == item.priority
    # The routed item's SLA length, from when the second review was requested.
    assert second.sla_due_at - second.created_at == item.sla_due_at - item.created_at
    assert AuditEvent.objects.filter(
        verb="quality.second_review.requested", target_id=str(review.pk)
    ).exists()


def test_an_accept_on_a_critical_model_is_not_risky(quality, fraud_model, pooled_reviewer):
    item, decision = first_decision(fraud_model, pooled_reviewer, "accept")
    assert not SecondReview.objects.exists()
    assert Decision.objects.get(pk=decision.pk).held is False


def test_override_of_a_confident_prediction_is_risky(quality, lenient_model, pooled_reviewer):
    quality["risky_override_confidence"] = 0.6
    item, _d = first_decision(
        lenient_model, pooled_reviewer, "override", confidence=0.65, predicted="fraud"
    )
    assert SecondReview.objects.get().why == SecondReview.Why.CONFIDENT_OVERRIDE


def test_override_of_an_unsure_prediction_on_a_lenient_model_is_not(
    quality, lenient_model, pooled_reviewer
):
    quality["risky_override_confidence"] = 0.6
    first_decision(lenient_model, pooled_reviewer, "override", confidence=0.55, predicted="fraud")
    assert not SecondReview.objects.exists()


def test_a_risky_label_either_way_is_risky(quality, lenient_model, pooled_reviewer):
    quality["risky_labels"] = ["fraud"]
    first_decision(lenient_model, pooled_reviewer, "accept", predicted="fraud")  # model's label
    assert SecondReview.objects.get().why == SecondReview.Why.RISKY_LABEL
    (item,) = fx.make_items(lenient_model, 1, label="legit")
    item = review_item_claim_next(user=pooled_reviewer)
    assert item.purpose == Purpose.ROUTED  # the second review is not offered to its first
    fx.decide(item, pooled_reviewer, "override", label="fraud", reason="r")  # final label
    assert SecondReview.objects.filter(prediction_id=item.prediction_id).get().why == "risky_label"


def test_sampling_at_the_rate(quality, lenient_model, pooled_reviewer, monkeypatch):
    quality["second_review_rate"] = 0.1
    monkeypatch.setattr(sr, "rng", Always(0.2))
    first_decision(lenient_model, pooled_reviewer, "accept")
    assert not SecondReview.objects.exists()
    monkeypatch.setattr(sr, "rng", Always(0.05))
    item, _d = first_decision(lenient_model, pooled_reviewer, "accept")
    assert SecondReview.objects.get(prediction_id=item.prediction_id).why == "sampled"


def test_escalate_and_defer_are_never_selected(quality, fraud_model, pooled_reviewer):
    quality["second_review_rate"] = 1.0
    item, _d = first_decision(fraud_model, pooled_reviewer, "defer", note="later")
    assert not SecondReview.objects.exists()


# --- hold, agreement, disagreement ------------------------------------------------------------
def test_held_until_the_blind_second_reviewer_agrees(
    quality, fraud_model, pooled_reviewer, other_reviewer
):
    item, first = first_decision(fraud_model, pooled_reviewer, "override", predicted="fraud")
    assert not producer_decisions(now=later()).filter(prediction_id=item.prediction_id).exists()
    review = SecondReview.objects.get()
    second = second_item(review, other_reviewer)
    fx.decide(second, other_reviewer, "override", label="legit", reason="agree")
    review.refresh_from_db()
    assert review.status == ST.AGREED and review.final_label == "legit"
    delivered = list(producer_decisions(now=later()).filter(prediction_id=item.prediction_id))
    assert [d.pk for d in delivered] == [first.pk]  # the second decision is never delivered
    assert [d.pk for d in label_decisions(now=later()).filter(prediction=item.prediction_id)] == [
        first.pk
    ]
    # Not before the second reviewer's own grace period is over.
    assert not producer_decisions().filter(prediction_id=item.prediction_id).exists()


def disagreement(fraud_model, first_user, second_user):
    item, first = first_decision(fraud_model, first_user, "override", predicted="fraud")
    review = SecondReview.objects.get(prediction_id=item.prediction_id)
    fx.decide(second_item(review, second_user), second_user, "accept")
    review.refresh_from_db()
    return item, first, review


def test_disagreement_waits_for_a_lead_who_is_told(
    quality, fraud_model, pooled_reviewer, other_reviewer, lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        item, first, review = disagreement(fraud_model, pooled_reviewer, other_reviewer)
    assert review.status == ST.ADJUDICATING
    assert not producer_decisions(now=later()).filter(prediction_id=item.prediction_id).exists()
    note = Notification.objects.get(kind=sr.ADJUDICATION_NEEDED)
    assert note.recipient_id == lead.pk and note.link == f"/quality/adjudication/{review.pk}/"
    assert sr.adjudication_count() == 1


def test_adjudication_to_another_label_supersedes_and_is_delivered_once(
    quality, fraud_model, pooled_reviewer, other_reviewer, lead
):
    item, first, review = disagreement(fraud_model, pooled_reviewer, other_reviewer)
    sr.second_review_adjudicate(
        review_id=review.pk, label="fraud", reason="the pattern is fraud", user=lead, version=2
    )
    review.refresh_from_db()
    assert review.status == ST.ADJUDICATED and review.final_label == "fraud"
    first.refresh_from_db()
    assert first.undone_at is not None and first.undone_by_id == lead.pk
    (delivered,) = producer_decisions(now=later(1)).filter(prediction_id=item.prediction_id)
    assert delivered.pk == review.final_decision_id != first.pk
    assert (delivered.final_label, delivered.action, delivered.reviewer_id) == (
        "fraud",
        "accept",
        lead.pk,
    )
    assert delivered.item_id == item.pk and not delivered.held
    assert AuditEvent.objects.filter(
        verb="quality.decision.superseded", target_id=str(first.pk)
    ).exists()
    assert AuditEvent.objects.filter(
        verb="quality.second_review.adjudicated", target_id=str(review.pk)
    ).exists()


def test_adjudication_to_the_first_label_releases_it(
    quality, fraud_model, pooled_reviewer, other_reviewer, lead
):
    item, first, review = disagreement(fraud_model, pooled_reviewer, other_reviewer)
    sr.second_review_adjudicate(
        review_id=review.pk, label="legit", reason="known customer", user=lead, version=None
    )
    (delivered,) = producer_decisions(now=later(1)).filter(prediction_id=item.prediction_id)
    assert delivered.pk == first.pk
    assert not GoldItem.objects.exists()


def test_adjudication_may_make_gold(quality, fraud_model, pooled_reviewer, other_reviewer, lead):
    item, first, review = disagreement(fraud_model, pooled_reviewer, other_reviewer)
    sr.second_review_adjudicate(
        review_id=review.pk, label="fraud", reason="textbook", user=lead, make_gold=True, version=2
    )
    gold = GoldItem.objects.get()
    assert (gold.prediction_id, gold.label, gold.origin) == (
        item.prediction_id,
        "fraud",
        "adjudicated",
    )
    assert gold.source_item_id == item.pk


def test_adjudication_rules(quality, fraud_model, pooled_reviewer, other_reviewer, lead):
    item, first, review = disagreement(fraud_model, pooled_reviewer, other_reviewer)
    with pytest.raises(PermissionDenied):
        sr.second_review_adjudicate(
            review_id=review.pk, label="fraud", reason="x", user=other_reviewer, version=2
        )
    with pytest.raises(ServiceError) as bad:
        sr.second_review_adjudicate(
            review_id=review.pk, label="cat", reason="", user=lead, version=2
        )
    assert set(bad.value.errors) == {"label", "reason"} and bad.value.status == 400
    with pytest.raises(Conflict) as stale:
        sr.second_review_adjudicate(
            review_id=review.pk, label="fraud", reason="x", user=lead, version=1
        )
    assert stale.value.status == 409 and "version" in stale.value.errors
    sr.second_review_adjudicate(
        review_id=review.pk, label="fraud", reason="x", user=lead, version=2
    )
    with pytest.raises(Conflict):  # already adjudicated
        sr.second_review_adjudicate(
            review_id=review.pk, label="fraud", reason="x", user=lead, version=3
        )
    assert Decision.objects.filter(prediction_id=item.prediction_id, reviewer=lead).count() == 1


def test_an_agreement_is_not_adjudicated(
    quality, fraud_model, pooled_reviewer, other_reviewer, lead
):
    item, first = first_decision(fraud_model, pooled_reviewer, "override", predicted="fraud")
    review = SecondReview.objects.get()
    fx.decide(
        second_item(review, other_reviewer), other_reviewer, "override", label="legit", reason="r"
    )
    with pytest.raises(Conflict):
        sr.second_review_adjudicate(
            review_id=review.pk, label="legit", reason="x", user=lead, version=None
        )


def test_an_escalated_second_review_goes_to_the_leads_and_stays_pending(
    quality, fraud_model, pooled_reviewer, other_reviewer
):
    item, first = first_decision(fraud_model, pooled_reviewer, "override", predicted="fraud")
    review = SecondReview.objects.get()
    fx.decide(second_item(review, other_reviewer), other_reviewer, "escalate", note="unsure")
    review.refresh_from_db()
    assert review.status == ST.PENDING
    assert ReviewItem.objects.get(pk=review.second_item_id).status == ReviewItem.Status.ESCALATED


# --- undo -----------------------------------------------------------------------------------
def test_undo_of_the_first_decision_cancels_and_the_next_one_reopens(
    quality, fraud_model, pooled_reviewer, other_reviewer
):
    item, first = first_decision(fraud_model, pooled_reviewer, "override", predicted="fraud")
    review = SecondReview.objects.get()
    reopened = decision_undo(decision_id=first.pk, user=pooled_reviewer)
    review.refresh_from_db()
    assert review.status == ST.CANCELLED
    # The second reviewer answers meanwhile; it is compared when the first decides again.
    fx.decide(second_item(review, other_reviewer), other_reviewer, "accept")
    again = fx.decide(reopened, pooled_reviewer, "accept")  # now agrees with the second
    review.refresh_from_db()
    assert review.status == ST.AGREED and review.first_decision_id == again.pk
    assert SecondReview.objects.count() == 1
    assert [d.pk for d in producer_decisions(now=later()).filter(item=item)] == [again.pk]


def test_undo_of_the_second_decision_takes_the_comparison_back(
    quality, fraud_model, pooled_reviewer, other_reviewer
):
    item, first = first_decision(fraud_model, pooled_reviewer, "override", predicted="fraud")
    review = SecondReview.objects.get()
    second = fx.decide(
        second_item(review, other_reviewer), other_reviewer, "override", label="legit", reason="r"
    )
    assert Decision.objects.get(pk=first.pk).held is False
    decision_undo(decision_id=second.pk, user=other_reviewer)
    review.refresh_from_db()
    assert review.status == ST.PENDING and review.second_decision_id is None
    assert Decision.objects.get(pk=first.pk).held is True
    assert not producer_decisions(now=later()).filter(item=item).exists()


def test_a_reviewer_outside_leads_is_refused(quality, db):
    reviewer = UserFactory(username="rita", roles=["reviewer"])
    with pytest.raises(PermissionDenied):
        sr.second_review_adjudicate(review_id=1, label="x", reason="x", user=reviewer, version=1)


def test_a_lead_who_reviewed_the_prediction_leaves_it_to_another_lead(
    quality, fraud_model, pooled_reviewer
):
    """The second reviewer here is a lead; while another lead exists, the party may not
    adjudicate (the page says who can), and once alone they may."""
    from reviewapp.models import PoolMembership

    lead_a = UserFactory(username="lead-a", roles=["lead"])
    lead_b = UserFactory(username="lead-b", roles=["lead"])
    PoolMembership.objects.create(model=fraud_model, user=lead_a)
    _item, _first, review = disagreement(fraud_model, pooled_reviewer, lead_a)
    assert review.status == ST.ADJUDICATING
    assert "lead-b" in sr.adjudicator_conflict(review, lead_a)
    assert sr.adjudicator_conflict(review, lead_b) == ""
    with pytest.raises(PermissionDenied):
        sr.second_review_adjudicate(
            review_id=review.pk, label="fraud", reason="r", user=lead_a, version=review.version
        )
    lead_b.groups.clear()
    assert sr.adjudicator_conflict(review, lead_a) == ""

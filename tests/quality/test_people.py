"""People (issue 17): fast-accept and gold-accuracy alerts, pause/resume, the qualification
gate and the guideline acknowledgement gate, through the services and the claim."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test.utils import override_settings

from reviewapp.core import clock
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent, Notification
from reviewapp.models import PoolMembership, Purpose, ReviewItem
from reviewapp.quality.models import GoldServing, QualityAlert
from reviewapp.quality.services.alerts import (
    Timing,
    alert_resolve,
    fast_accept_check,
    gold_accuracy_check,
    reviewers_check,
)
from reviewapp.quality.services.guidelines import guideline_acknowledge
from reviewapp.quality.services.pauses import reviewer_pause, reviewer_resume
from reviewapp.quality.services.qualification import progress, qualification_restart
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.decisions import decision_undo
from reviewapp.services.pools import guideline_publish, pool_member_add
from tests.factories import UserFactory
from tests.reviewapp.test_queue_fixtures import decide, make_items

from .people_fixtures import lead_user, make_gold, member, serve_scored_gold, set_quality
from .people_fixtures import timed_decisions as timed

pytestmark = pytest.mark.django_db
__all__ = ["lead_user"]  # the fixture, imported for pytest
K = QualityAlert.Kind
S = ReviewItem.Status


# --- the rules -------------------------------------------------------------------------------
def test_fast_accept_rule_needs_enough_decisions_speed_and_accept_share():
    fast = Timing([2.0] * 20, 20)
    peers = [Timing([20.0] * 10, 10), Timing([18.0] * 10, 12)]
    figures = fast_accept_check(fast, peers, ratio=0.35, minimum=20)
    assert figures["median_seconds"] == 2.0 and figures["peer_median_seconds"] == 19.0
    assert figures["accepts"] == 20 and figures["peer_accepts"] == 20
    # too few of theirs, too few of the peers', not fast enough, or overriding more than peers
    assert fast_accept_check(Timing([2.0] * 19, 19), peers, ratio=0.35, minimum=20) is None
    assert fast_accept_check(fast, peers[:1], ratio=0.35, minimum=20) is None
    assert fast_accept_check(Timing([7.0] * 20, 20), peers, ratio=0.35, minimum=20) is None
    assert fast_accept_check(Timing([2.0] * 20, 40), peers, ratio=0.35, minimum=20) is None


def test_gold_accuracy_rule():
    assert gold_accuracy_check(3, 3, bound=0.7, minimum=5)["accuracy"] == 0.5
    assert gold_accuracy_check(2, 2, bound=0.7, minimum=5) is None  # too few
    assert gold_accuracy_check(5, 1, bound=0.7, minimum=5) is None  # 0.83 is fine


# --- fast-accept alert on a scripted reviewer --------------------------------------------------
def test_scripted_two_second_reviewer_raises_one_fast_accept_alert_to_the_leads(
    fraud_model, lead_user
):
    fast = member(fraud_model, "ana")
    peer = member(fraud_model, "ravi")
    start = clock.now() - dt.timedelta(hours=2)
    timed(fraud_model, peer, 20, 20, start=start)
    timed(fraud_model, fast, 20, 2, start=start + dt.timedelta(minutes=30))

    raised = reviewers_check()
    assert [(a.kind, a.reviewer_id) for a in raised] == [(K.FAST_ACCEPT, fast.pk)]
    alert = raised[0]
    assert alert.figures["median_seconds"] == 2.0 and alert.figures["peer_median_seconds"] == 20.0
    assert (
        alert.figures["text"]
        == "ana accepted 20 items on card-fraud in a median 2 s; peers take 20 s"
    )
    told = Notification.objects.filter(kind="quality.reviewer_alert", recipient=lead_user)
    assert told.count() == 1 and "median 2 s" in told.get().title
    assert AuditEvent.objects.filter(verb="quality.alert.raised", target_id=str(alert.pk)).exists()

    # the next run (beat every 10 minutes) refreshes the open alert: no second alert, no notice
    assert reviewers_check() == []
    assert QualityAlert.objects.filter(reviewer=fast, kind=K.FAST_ACCEPT).count() == 1
    assert told.count() == 1
    assert AuditEvent.objects.filter(verb="quality.alert.raised").count() == 1


def test_decisions_outside_the_window_do_not_count(fraud_model, lead_user):
    fast = member(fraud_model, "ana")
    peer = member(fraud_model, "ravi")
    long_ago = clock.now() - dt.timedelta(hours=30)
    timed(fraud_model, peer, 20, 20, start=long_ago)
    timed(fraud_model, fast, 20, 2, start=long_ago + dt.timedelta(minutes=30))
    assert reviewers_check() == []
    with override_settings(QUALITY_ALERT_WINDOW_HOURS=48):
        assert len(reviewers_check()) == 1


def test_gold_accuracy_alert_and_resolve(fraud_model, lead_user):
    ana = member(fraud_model, "ana")
    ravi = member(fraud_model, "ravi")
    golds = make_gold(fraud_model, 6, by=lead_user, decider=ravi)
    serve_scored_gold(fraud_model, ana, golds, correct=3)  # 3 of 6 right, bound 0.7
    (alert,) = reviewers_check()
    assert alert.kind == K.GOLD_ACCURACY and alert.reviewer_id == ana.pk
    assert alert.figures["text"] == "ana got 3 of 6 gold items right on card-fraud (50%; bound 70%)"
    # qualification answers do not count towards it
    assert GoldServing.objects.filter(qualification=True).count() == 0

    with pytest.raises(PermissionDenied):
        alert_resolve(alert_id=alert.pk, note="talked", by=ana)
    with pytest.raises(ServiceError) as exc:
        alert_resolve(alert_id=alert.pk, note="  ", by=lead_user)
    assert "note" in exc.value.errors
    alert = alert_resolve(alert_id=alert.pk, note="Went through the misses together.", by=lead_user)
    assert alert.status == QualityAlert.Status.RESOLVED and alert.resolved_by_id == lead_user.pk
    assert AuditEvent.objects.filter(
        verb="quality.alert.resolved", target_id=str(alert.pk)
    ).exists()
    with pytest.raises(Conflict):
        alert_resolve(alert_id=alert.pk, note="again", by=lead_user)
    with pytest.raises(NotFound):
        alert_resolve(alert_id=999999, note="x", by=lead_user)
    # still below the bound: a fresh alert opens (the last one was resolved)
    assert len(reviewers_check()) == 1


# --- pause / resume --------------------------------------------------------------------------
def test_pause_releases_the_held_item_and_the_claim_gives_nothing_until_resumed(
    fraud_model, lead_user
):
    ana = member(fraud_model, "ana")
    make_items(fraud_model, 2)
    held = review_item_claim_next(user=ana)
    with pytest.raises(ServiceError) as exc:
        reviewer_pause(model_id=fraud_model.pk, user_id=ana.pk, reason=" ", by=lead_user)
    assert "reason" in exc.value.errors
    with pytest.raises(PermissionDenied):
        reviewer_pause(model_id=fraud_model.pk, user_id=ana.pk, reason="x", by=ana)
    outsider = UserFactory(username="zed", roles=["reviewer"])
    with pytest.raises(NotFound):
        reviewer_pause(model_id=fraud_model.pk, user_id=outsider.pk, reason="x", by=lead_user)

    reviewer_pause(
        model_id=fraud_model.pk, user_id=ana.pk, reason="Too many fast accepts", by=lead_user
    )
    held.refresh_from_db()
    assert held.status == S.PENDING and held.claimed_by_id is None
    m = PoolMembership.objects.get(model=fraud_model, user=ana)
    assert (
        m.paused_at and m.paused_by_id == lead_user.pk and m.pause_reason == "Too many fast accepts"
    )
    assert review_item_claim_next(user=ana) is None
    event = AuditEvent.objects.get(verb="quality.reviewer.paused")
    assert event.data["released_items"] == [held.pk]
    assert Notification.objects.filter(recipient=ana, kind="quality.reviewer_state").count() == 1
    with pytest.raises(Conflict):
        reviewer_pause(model_id=fraud_model.pk, user_id=ana.pk, reason="again", by=lead_user)

    reviewer_resume(model_id=fraud_model.pk, user_id=ana.pk, by=lead_user)
    assert review_item_claim_next(user=ana) is not None
    assert AuditEvent.objects.filter(verb="quality.reviewer.resumed").count() == 1
    with pytest.raises(Conflict):
        reviewer_resume(model_id=fraud_model.pk, user_id=ana.pk, by=lead_user)


# --- qualification ---------------------------------------------------------------------------
@pytest.fixture
def qualifying_setup(fraud_model, lead_user):
    set_quality(fraud_model, qualification_size=3, qualification_pass=0.66)
    ravi = member(fraud_model, "ravi")
    golds = make_gold(fraud_model, 4, by=lead_user, decider=ravi)
    make_items(fraud_model, 2, prefix="live")  # live work the newcomer must not get yet
    newbie = UserFactory(username="nora", roles=["reviewer"])
    membership = pool_member_add(model=fraud_model, user=newbie, by=lead_user)
    return newbie, membership, golds


def _answer(item, user, *, right: bool):
    gold = item.gold_serving.gold
    if right:
        return decide(item, user, "accept")
    other = next(label for label in item.model.labels if label != gold.label)
    if other == item.prediction.label:
        return decide(item, user, "accept")
    return decide(item, user, "override", label=other, reason="looks wrong")


def test_new_member_gets_only_their_qualification_set_first_and_passing_opens_live_items(
    qualifying_setup, fraud_model
):
    newbie, membership, _golds = qualifying_setup
    membership.refresh_from_db()
    assert membership.qualifying
    served = ReviewItem.objects.filter(purpose=Purpose.QUALIFICATION, for_reviewer=newbie)
    assert served.count() == 3
    assert GoldServing.objects.filter(reviewer=newbie, qualification=True).count() == 3
    assert AuditEvent.objects.filter(verb="quality.qualification.started").count() == 1
    other = UserFactory(username="otto", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=other)
    taken = review_item_claim_next(user=other)
    assert taken.purpose == Purpose.ROUTED  # nobody else gets the newcomer's set

    for _i in range(3):
        item = review_item_claim_next(user=newbie)
        assert item.purpose == Purpose.QUALIFICATION and item.for_reviewer_id == newbie.pk
        _answer(item, newbie, right=True)
        if _i < 2:
            assert PoolMembership.objects.get(pk=membership.pk).qualifying
    membership.refresh_from_db()
    assert not membership.qualifying and membership.qualified_at is not None
    assert AuditEvent.objects.filter(verb="quality.qualification.passed").count() == 1
    assert Notification.objects.filter(recipient=newbie, kind="quality.reviewer_state").exists()
    assert progress(model_id=fraud_model.pk, user_id=newbie.pk).correct == 3
    live = review_item_claim_next(user=newbie)
    assert live is not None and live.purpose == Purpose.ROUTED


def test_failing_the_set_keeps_the_member_out_alerts_the_leads_and_a_lead_can_restart(
    qualifying_setup, fraud_model, lead_user
):
    newbie, membership, golds = qualifying_setup
    first = review_item_claim_next(user=newbie)
    with pytest.raises(Conflict):  # still deciding their set
        qualification_restart(model_id=fraud_model.pk, user_id=newbie.pk, by=lead_user)
    _answer(first, newbie, right=False)
    for _i in range(2):
        item = review_item_claim_next(user=newbie)
        # escalating counts as wrong
        decide(item, newbie, "escalate", note="not sure")
    membership.refresh_from_db()
    assert membership.qualifying
    assert AuditEvent.objects.filter(verb="quality.qualification.failed").count() == 1
    alert = QualityAlert.objects.get(reviewer=newbie, kind=K.QUALIFICATION_FAILED)
    assert alert.figures["correct"] == 0 and alert.figures["total"] == 3
    assert Notification.objects.filter(recipient=lead_user, kind="quality.reviewer_alert").exists()
    assert review_item_claim_next(user=newbie) is None  # live items stay out of reach

    # 4 gold items, 3 seen: not enough fresh ones for a new set of 3
    with pytest.raises(Conflict):
        qualification_restart(model_id=fraud_model.pk, user_id=newbie.pk, by=lead_user)
    ravi = PoolMembership.objects.get(model=fraud_model, user__username="ravi").user
    make_gold(fraud_model, 2, by=lead_user, decider=ravi)
    assert qualification_restart(model_id=fraud_model.pk, user_id=newbie.pk, by=lead_user) == 3
    p = progress(model_id=fraud_model.pk, user_id=newbie.pk)
    assert (p.done, p.total) == (0, 3)


def test_not_enough_gold_leaves_the_member_live_and_says_why(fraud_model, lead_user):
    set_quality(fraud_model, qualification_size=5)
    newbie = UserFactory(username="nora", roles=["reviewer"])
    membership = pool_member_add(model=fraud_model, user=newbie, by=lead_user)
    membership.refresh_from_db()
    assert not membership.qualifying
    event = AuditEvent.objects.get(verb="quality.qualification.skipped")
    assert event.data["gold_available"] == 0 and event.data["size"] == 5
    # once there is gold, a lead serves them a first set
    ravi = member(fraud_model, "ravi")
    make_gold(fraud_model, 5, by=lead_user, decider=ravi)
    assert qualification_restart(model_id=fraud_model.pk, user_id=newbie.pk, by=lead_user) == 5
    membership.refresh_from_db()
    assert membership.qualifying


# --- guideline acknowledgement -----------------------------------------------------------------
def test_a_new_guideline_holds_live_items_until_acknowledged(fraud_model, lead_user):
    ana = member(fraud_model, "ana")
    ravi = member(fraud_model, "ravi")
    make_items(fraud_model, 2)
    version = guideline_publish(model=fraud_model, body="# Fraud\nCheck the country.", by=lead_user)
    assert set(
        PoolMembership.objects.filter(model=fraud_model, guideline_pending=True).values_list(
            "user__username", flat=True
        )
    ) == {"ana", "ravi"}
    event = AuditEvent.objects.get(verb="quality.guideline.ack_requested")
    assert sorted(event.data["members"]) == sorted([ana.pk, ravi.pk])
    assert review_item_claim_next(user=ana) is None

    m = guideline_acknowledge(model_id=fraud_model.pk, user=ana)
    assert not m.guideline_pending and m.guideline_acked == version.version
    assert AuditEvent.objects.filter(verb="quality.guideline.acknowledged").count() == 1
    assert review_item_claim_next(user=ana) is not None
    assert review_item_claim_next(user=ravi) is None  # still to read it

    # a newcomer reads the current guideline first
    newbie = UserFactory(username="nora", roles=["reviewer"])
    assert pool_member_add(model=fraud_model, user=newbie, by=lead_user).guideline_pending


def test_no_acknowledgement_when_the_setting_is_off(fraud_model, lead_user):
    set_quality(fraud_model, guideline_ack_required=False)
    ana = member(fraud_model, "ana")
    make_items(fraud_model, 1)
    guideline_publish(model=fraud_model, body="Be careful.", by=lead_user)
    assert not PoolMembership.objects.get(user=ana).guideline_pending
    assert review_item_claim_next(user=ana) is not None


def test_an_undone_qualification_answer_is_not_scored(qualifying_setup, fraud_model):
    newbie, _membership, _golds = qualifying_setup
    item = review_item_claim_next(user=newbie)
    decision = _answer(item, newbie, right=False)
    assert progress(model_id=fraud_model.pk, user_id=newbie.pk).done == 1
    decision_undo(decision_id=decision.pk, user=newbie)
    p = progress(model_id=fraud_model.pk, user_id=newbie.pk)
    assert (p.done, p.correct) == (0, 0)
    again = review_item_claim_next(user=newbie)
    assert again.pk == item.pk
    _answer(again, newbie, right=True)
    assert progress(model_id=fraud_model.pk, user_id=newbie.pk).correct == 1

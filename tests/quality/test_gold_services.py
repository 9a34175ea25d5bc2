"""Gold items: marking rules and permissions, retiring, serving at the model's rate, scoring,
undo; gold decisions never reach the producer or the label export."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from reviewapp.core import clock
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.delivery import selectors as delivery
from reviewapp.models import PoolMembership, Purpose, ReviewItem
from reviewapp.quality.models import GoldItem, GoldServing
from reviewapp.quality.services.gold import (
    gold_retire,
    gold_serve,
    pick_gold,
)
from reviewapp.services.decisions import decision_undo
from tests.factories import UserFactory
from tests.reviewapp.test_queue_fixtures import make_items, other_reviewer, pooled_reviewer

from .gold_helpers import claim_and_decide, decided_items, mark, set_quality

pytestmark = pytest.mark.django_db
__all__ = ["other_reviewer", "pooled_reviewer"]
R = GoldServing.Result


@pytest.fixture
def lee(db):
    return UserFactory(username="lee", roles=["lead"])


@pytest.fixture
def past():
    """Two days ago: decisions made then do not count towards anyone's first gold item."""
    return clock.now() - dt.timedelta(days=2)


# --- marking ------------------------------------------------------------------------------


def test_mark_takes_the_decisions_label_and_flags_adversarial(fraud_model, pooled_reviewer, lee):
    wrong, right = decided_items(fraud_model, pooled_reviewer, 2, override=1)
    adversarial = mark(wrong, lee)
    plain = mark(right, lee)
    assert (adversarial.label, adversarial.model_label, adversarial.adversarial) == (
        "legit",
        "fraud",
        True,
    )
    assert (plain.label, plain.adversarial, plain.origin) == ("fraud", False, "marked")
    assert plain.source_item_id == right.pk and plain.marked_by == lee
    event = AuditEvent.objects.get(verb="quality.gold_item.marked", target_id=str(plain.pk))
    assert event.after["label"] == "fraud" and event.data["item"] == right.pk


def test_a_corrected_answer_needs_a_rationale(fraud_model, pooled_reviewer, lee):
    (item,) = decided_items(fraud_model, pooled_reviewer, 1)
    with pytest.raises(ServiceError) as exc:
        mark(item, lee, label="legit")
    assert "rationale" in exc.value.errors
    assert not GoldItem.objects.exists()
    gold = mark(item, lee, label="legit", rationale="Chargeback confirmed it was the owner.")
    assert gold.label == "legit" and gold.adversarial is True


def test_marking_refuses_bad_labels_open_items_gold_items_and_twice(
    fraud_model, pooled_reviewer, lee
):
    (item,) = decided_items(fraud_model, pooled_reviewer, 1)
    with pytest.raises(ServiceError) as exc:
        mark(item, lee, label="maybe", rationale="x")
    assert "label" in exc.value.errors
    (open_item,) = make_items(fraud_model, 1, prefix="open")
    with pytest.raises(Conflict) as exc:
        mark(open_item, lee)
    assert "item_id" in exc.value.errors
    with pytest.raises(NotFound):
        mark(ReviewItem(pk=999999), lee)
    gold = mark(item, lee)
    with pytest.raises(Conflict):
        mark(item, lee)
    served = ReviewItem.objects.create(
        prediction=item.prediction,
        model=fraud_model,
        purpose=Purpose.GOLD,
        for_reviewer=lee,
        status=ReviewItem.Status.DECIDED,
        sla_due_at=clock.now(),
    )
    with pytest.raises(ServiceError) as exc:
        mark(served, lee)
    assert "item_id" in exc.value.errors
    assert list(GoldItem.objects.values_list("pk", flat=True)) == [gold.pk]


@pytest.mark.parametrize("role", ["reviewer", "engineer", "committee"])
def test_only_leads_mark_and_retire(fraud_model, pooled_reviewer, lee, role):
    (item,) = decided_items(fraud_model, pooled_reviewer, 1)
    someone = UserFactory(roles=[role])
    with pytest.raises(PermissionDenied):
        mark(item, someone)
    gold = mark(item, lee)
    with pytest.raises(PermissionDenied):
        gold_retire(gold_id=gold.pk, reason="stale", user=someone)


def test_retire_needs_a_reason_once(fraud_model, pooled_reviewer, lee):
    (item,) = decided_items(fraud_model, pooled_reviewer, 1)
    gold = mark(item, lee)
    with pytest.raises(ServiceError) as exc:
        gold_retire(gold_id=gold.pk, reason="  ", user=lee)
    assert "reason" in exc.value.errors
    gold_retire(gold_id=gold.pk, reason="Guideline changed", user=lee)
    gold.refresh_from_db()
    assert gold.retired_at and gold.retired_by == lee and gold.retire_reason == "Guideline changed"
    with pytest.raises(Conflict):
        gold_retire(gold_id=gold.pk, reason="again", user=lee)
    with pytest.raises(NotFound):
        gold_retire(gold_id=999999, reason="x", user=lee)
    assert AuditEvent.objects.filter(verb="quality.gold_item.retired").count() == 1


# --- serving ------------------------------------------------------------------------------


@pytest.fixture
def gold_set(fraud_model, pooled_reviewer, other_reviewer, lee, past):
    """Six gold items from ravi's decisions (two adversarial) and one from ana's, all made
    two days ago. The model is not critical here: an override on a critical model goes to a
    blind second review, which the next reviewer's claim would pick up first."""
    fraud_model.criticality = "high"
    fraud_model.save(update_fields=["criticality"])
    with clock.travel(past):
        ravi_items = decided_items(fraud_model, other_reviewer, 6, prefix="rv", override=2)
        (ana_item,) = decided_items(fraud_model, pooled_reviewer, 1, prefix="an")
        golds = [mark(item, lee) for item in ravi_items]
        own = mark(ana_item, lee)
    return golds, own


def test_a_reviewer_gets_about_n_times_rate_gold_never_their_own_never_twice(
    fraud_model, pooled_reviewer, gold_set
):
    golds, own = gold_set
    set_quality(fraud_model, gold_rate=0.1, adversarial_gold_share=0.5)
    rng = random.Random(7)
    live = gold_decided = 0
    while live < 30:
        # Live work keeps arriving; a served gold item sorts like an item routed when served.
        make_items(fraud_model, 1, prefix=f"live{live}-{gold_decided}")
        item, _ = claim_and_decide(pooled_reviewer)
        if item.purpose == Purpose.GOLD:
            gold_decided += 1
        else:
            live += 1
        gold_serve(rng=rng)
    servings = list(GoldServing.objects.filter(reviewer=pooled_reviewer))
    assert len(servings) == 3  # 30 live decisions at 0.1
    served = [s.gold_id for s in servings]
    assert len(set(served)) == len(served)
    assert own.pk not in served
    assert {s.item.purpose for s in servings} == {Purpose.GOLD}
    assert all(s.item.for_reviewer_id == pooled_reviewer.pk for s in servings)
    assert gold_decided >= 2  # served gold is claimed among the live items
    assert AuditEvent.objects.filter(verb="quality.gold_item.served").count() == 3


def test_served_item_sits_in_the_queue_as_its_prediction_did_when_routed(
    fraud_model, pooled_reviewer, gold_set
):
    golds, _own = gold_set
    GoldItem.objects.exclude(pk=golds[0].pk).update(retired_at=clock.now())
    source = golds[0].source_item
    set_quality(fraud_model, gold_rate=0.5)
    make_items(fraud_model, 2, prefix="live")
    claim_and_decide(pooled_reviewer)
    claim_and_decide(pooled_reviewer)
    now = clock.now()
    assert gold_serve(now=now) == 1
    item = ReviewItem.objects.get(purpose=Purpose.GOLD)
    assert item.priority == source.priority
    assert item.created_at == now and item.updated_at == now
    assert item.sla_due_at - now == source.sla_due_at - source.prediction.received_at
    assert item.status == ReviewItem.Status.PENDING and item.claimed_by_id is None


def test_unrouted_gold_takes_the_models_live_priority_and_tier_sla(
    fraud_model, pooled_reviewer, gold_set
):
    from tests.factories import DEFAULT_RULES

    golds, _own = gold_set
    GoldItem.objects.exclude(pk=golds[0].pk).update(retired_at=clock.now())
    # As if the source had been a shift sample: no routed item of the prediction to copy.
    ReviewItem.objects.filter(pk=golds[0].source_item_id).update(sla_escalated_at=clock.now())
    set_quality(fraud_model, gold_rate=0.5)
    make_items(fraud_model, 4, prefix="live")
    ReviewItem.objects.filter(purpose=Purpose.ROUTED, status="pending").update(priority=63)
    claim_and_decide(pooled_reviewer)
    claim_and_decide(pooled_reviewer)
    now = clock.now()
    assert gold_serve(now=now) == 1
    item = ReviewItem.objects.get(purpose=Purpose.GOLD)
    assert item.priority == 63  # the median of the model's pending routed items
    tier = fraud_model.criticality  # "high": see gold_set
    assert item.sla_due_at == now + dt.timedelta(minutes=DEFAULT_RULES["sla_minutes"][tier])


def test_nothing_is_served_below_the_rate_or_to_members_not_taking_live_items(
    fraud_model, pooled_reviewer, gold_set
):
    make_items(fraud_model, 6, prefix="live")
    for _ in range(4):
        claim_and_decide(pooled_reviewer)
    assert gold_serve() == 0  # gold_rate defaults to 0
    set_quality(fraud_model, gold_rate=0.2)  # 4 x 0.2 < 1
    assert gold_serve() == 0
    claim_and_decide(pooled_reviewer)
    member = PoolMembership.objects.get(user=pooled_reviewer, model=fraud_model)
    for flag in ({"paused_at": clock.now()}, {"qualifying": True}, {"guideline_pending": True}):
        PoolMembership.objects.filter(pk=member.pk).update(**flag)
        assert gold_serve() == 0
        PoolMembership.objects.filter(pk=member.pk).update(
            paused_at=None, qualifying=False, guideline_pending=False
        )
    assert gold_serve() == 1
    assert gold_serve() == 0  # one undecided gold item at a time


def test_retired_gold_is_not_served(fraud_model, pooled_reviewer, gold_set, lee):
    golds, _own = gold_set
    for gold in golds:
        gold_retire(gold_id=gold.pk, reason="old", user=lee)
    set_quality(fraud_model, gold_rate=1.0)
    make_items(fraud_model, 1, prefix="live")
    claim_and_decide(pooled_reviewer)
    assert gold_serve() == 0  # only her own gold is left


def test_adversarial_share_picks_adversarial_gold():
    candidates = [(1, False), (2, True), (3, False), (4, True)]
    rng = random.Random(3)
    assert {pick_gold(candidates, share=1.0, rng=rng) for _ in range(50)} == {2, 4}
    picks = [pick_gold(candidates, share=0.0, rng=rng) for _ in range(200)]
    assert set(picks) == {1, 2, 3, 4}  # without the share, any gold
    assert pick_gold([(5, False)], share=1.0, rng=rng) == 5  # none adversarial: any


# --- scoring ------------------------------------------------------------------------------


def _serve_to(reviewer, model, gold) -> ReviewItem:
    """Serve ``gold`` to ``reviewer`` (the serving rule is tested above)."""
    set_quality(model, gold_rate=1.0)
    GoldItem.objects.exclude(pk=gold.pk).update(retired_at=clock.now())
    make_items(model, 1, prefix=f"earn{gold.pk}")
    claim_and_decide(reviewer)
    assert gold_serve() == 1
    return ReviewItem.objects.get(purpose=Purpose.GOLD, prediction=gold.prediction)


@pytest.mark.parametrize(
    ("adversarial", "action", "fields", "result", "answered"),
    [
        (False, "accept", {}, R.CORRECT, "fraud"),
        (True, "accept", {}, R.WRONG, "fraud"),
        (True, "override", {"label": "legit", "reason": "owner"}, R.CORRECT, "legit"),
        (False, "escalate", {"note": "not sure"}, R.ESCALATED, ""),
    ],
)
def test_a_gold_decision_is_scored_against_the_answer(
    fraud_model, pooled_reviewer, gold_set, adversarial, action, fields, result, answered
):
    golds, _own = gold_set
    gold = next(g for g in golds if g.adversarial is adversarial)
    item = _serve_to(pooled_reviewer, fraud_model, gold)
    ReviewItem.objects.filter(purpose=Purpose.ROUTED, status="pending").update(priority=0)
    claimed, decision = claim_and_decide(pooled_reviewer, action, **fields)
    assert claimed.pk == item.pk
    serving = GoldServing.objects.get(item=item)
    assert (serving.result, serving.answered_label) == (result, answered)
    assert serving.decision_id == decision.pk and serving.scored_at is not None
    assert serving.adversarial is adversarial
    assert AuditEvent.objects.filter(
        verb="quality.gold_serving.scored", target_id=str(serving.pk)
    ).exists()


def test_defer_leaves_it_pending_and_undo_withdraws_the_score(
    fraud_model, pooled_reviewer, gold_set
):
    golds, _own = gold_set
    item = _serve_to(pooled_reviewer, fraud_model, golds[-1])
    claimed, _ = claim_and_decide(pooled_reviewer, "defer", note="later")
    assert claimed.pk == item.pk
    assert GoldServing.objects.get(item=item).result == R.PENDING
    # Back in the queue for her at once (the deferral's own rules are the queue's tests).
    ReviewItem.objects.filter(pk=item.pk).update(
        status=ReviewItem.Status.PENDING, wake_at=None, deferred_by=None, deferred_by_until=None
    )
    ReviewItem.objects.filter(purpose=Purpose.ROUTED, status="pending").update(priority=0)
    claimed, decision = claim_and_decide(pooled_reviewer)
    assert claimed.pk == item.pk
    assert GoldServing.objects.get(item=item).result == R.CORRECT
    decision_undo(decision_id=decision.pk, user=pooled_reviewer)
    serving = GoldServing.objects.get(item=item)
    assert (serving.result, serving.decision_id, serving.scored_at) == (R.PENDING, None, None)
    assert AuditEvent.objects.filter(verb="quality.gold_serving.reset").count() == 1


# --- never delivered, never exported ------------------------------------------------------


def test_gold_decisions_never_reach_the_producer_or_the_label_export(
    fraud_model, pooled_reviewer, gold_set, api
):
    golds, _own = gold_set
    item = _serve_to(pooled_reviewer, fraud_model, golds[0])
    ReviewItem.objects.filter(purpose=Purpose.ROUTED, status="pending").update(priority=0)
    _, decision = claim_and_decide(pooled_reviewer)
    assert decision.item_id == item.pk
    source = golds[0].source_item.decisions.get()
    later = clock.now() + dt.timedelta(hours=1)

    def ids(qs) -> set[int]:
        return set(qs.values_list("id", flat=True))

    assert decision.pk not in ids(delivery.decisions_to_enqueue(now=later))  # no webhook
    assert decision.pk not in ids(delivery.producer_decisions(now=later))
    assert decision.pk not in ids(delivery.label_decisions(now=later))
    assert source.pk in ids(delivery.label_decisions(now=later))
    with clock.travel(later):
        feed = api.get("/api/v1/decisions?limit=500").json()
        export = api.get("/api/v1/decisions/export?format=jsonl")
        lines = b"".join(export.streaming_content).decode().splitlines()
    fed = {row["decision_id"] for row in feed["results"]}
    exported = {json.loads(line)["decision_id"] for line in lines if line.strip()}
    assert source.pk in fed and source.pk in exported  # the control: the live decision is there
    assert decision.pk not in fed and decision.pk not in exported


def test_a_lead_deciding_an_escalated_gold_item_is_not_scored(
    fraud_model, pooled_reviewer, gold_set, lee
):
    golds, _own = gold_set
    item = _serve_to(pooled_reviewer, fraud_model, golds[0])
    ReviewItem.objects.filter(purpose=Purpose.ROUTED, status="pending").update(priority=0)
    claimed, _ = claim_and_decide(pooled_reviewer, "escalate", note="unsure")
    assert claimed.pk == item.pk
    claimed, decision = claim_and_decide(lee, "override", label="legit", reason="known case")
    assert claimed.pk == item.pk and decision.reviewer == lee
    serving = GoldServing.objects.get(item=item)
    assert serving.result == R.ESCALATED and serving.answered_label == ""


def test_a_qualification_item_is_scored_the_same_way(fraud_model, pooled_reviewer, gold_set):
    golds, _own = gold_set
    gold = next(g for g in golds if g.adversarial)
    item = ReviewItem.objects.create(
        prediction=gold.prediction,
        model=fraud_model,
        purpose=Purpose.QUALIFICATION,
        for_reviewer=pooled_reviewer,
        priority=100,
        sla_due_at=clock.now() + dt.timedelta(hours=1),
    )
    GoldServing.objects.create(
        gold=gold, item=item, reviewer=pooled_reviewer, model=fraud_model, qualification=True
    )
    claimed, _ = claim_and_decide(pooled_reviewer, "override", label=gold.label, reason="r")
    assert claimed.pk == item.pk
    assert GoldServing.objects.get(item=item).result == R.CORRECT


def test_beat_serves_gold_every_minute_through_the_task(fraud_model, pooled_reviewer, gold_set):
    from django.conf import settings

    from reviewapp.quality.tasks import serve_gold

    entry = settings.CELERY_BEAT_SCHEDULE["quality-serve-gold"]
    assert entry["task"] == "quality.serve_gold" == serve_gold.name
    assert entry["schedule"] == dt.timedelta(minutes=1)
    set_quality(fraud_model, gold_rate=1.0)
    make_items(fraud_model, 1, prefix="live")
    claim_and_decide(pooled_reviewer)
    assert serve_gold.apply().get() == 1

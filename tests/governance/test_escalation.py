"""Escalation rules read from the policy version that routed the item, else today's values."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test.utils import override_settings
from django.utils import timezone

from reviewapp.core.models import AuditEvent
from reviewapp.models import Prediction, ReviewItem
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.sweeps import review_sla_sweep
from tests.factories import DEFAULT_RULES, MLModelFactory, make_policy
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = pytest.mark.django_db
pooled_reviewer = fx.pooled_reviewer
S = ReviewItem.Status


def defer_until_escalated(item, user, limit: int = 5) -> int:
    """Defer the item as often as it takes to escalate; return how many deferrals it took.
    (No exclusion: a defer without a time would otherwise keep the item from ``user``.)"""
    with override_settings(QUEUE_DEFER_EXCLUSION_MINUTES=0):
        for n in range(1, limit + 1):
            held = review_item_claim_next(user=user)
            assert held.pk == item.pk
            fx.decide(held, user, "defer", note="waiting")
            item.refresh_from_db()
            if item.status == S.ESCALATED:
                return n
    raise AssertionError("never escalated")


def test_the_third_deferral_escalates_by_default(pooled_reviewer, fraud_model):
    [item] = fx.make_items(fraud_model, 1)
    assert defer_until_escalated(item, pooled_reviewer) == 3


def test_the_routing_policy_sets_the_deferrals_before_escalation(pooled_reviewer, fraud_model):
    [old] = fx.make_items(fraud_model, 1, prefix="old")
    make_policy(fraud_model, {**DEFAULT_RULES, "escalation": {"deferrals_before_escalation": 1}})
    [new] = fx.make_items(fraud_model, 1, prefix="new")
    ReviewItem.objects.filter(pk=old.pk).update(priority=0)  # the new one is offered first
    assert defer_until_escalated(new, pooled_reviewer) == 1
    # The item routed by the earlier version keeps that version's rule (the default, 3).
    assert defer_until_escalated(old, pooled_reviewer) == 3


def test_the_sla_sweep_uses_each_items_policy(fraud_model):
    [default_item] = fx.make_items(fraud_model, 1, prefix="d")
    make_policy(
        fraud_model,
        {**DEFAULT_RULES, "escalation": {"sla_near_minutes": 60, "sla_near_priority_bump": 5}},
    )
    [wide_item, wide_far] = fx.make_items(fraud_model, 2, prefix="w")
    unpoliced = MLModelFactory(slug="no-policy", labels=["a", "b"], criticality="low")
    [bare_item] = fx.make_items(unpoliced, 1, prefix="b")
    now = timezone.now()
    due = {default_item: 30, wide_item: 30, wide_far: 90, bare_item: 5}
    for item, minutes in due.items():
        ReviewItem.objects.filter(pk=item.pk).update(
            sla_due_at=now + dt.timedelta(minutes=minutes), priority=50
        )
    with override_settings(REVIEW_SLA_NEAR_SECONDS=600, REVIEW_SLA_PRIORITY_BUMP=20):
        assert review_sla_sweep() == {"near": 2, "breached": 0}
        assert review_sla_sweep() == {"near": 0, "breached": 0}
    priority = dict(ReviewItem.objects.values_list("id", "priority"))
    assert priority[default_item.pk] == 50  # 30 min out, default window 10 min
    assert priority[wide_item.pk] == 55  # its policy: 60 min window, +5
    assert priority[wide_far.pk] == 50
    assert priority[bare_item.pk] == 70  # no policy: the settings
    bumps = sorted(
        e.data["priority_bump"]
        for e in AuditEvent.objects.filter(verb="queue.review_item.sla_warned")
    )
    assert bumps == [5, 20]
    assert Prediction.objects.filter(policy_version__isnull=True).count() == 1


def test_without_policy_overrides_the_sweep_is_one_query_as_before(
    fraud_model, django_assert_num_queries
):
    fx.make_items(fraud_model, 2)
    ReviewItem.objects.update(sla_due_at=timezone.now() + dt.timedelta(minutes=1))
    # versions with escalation rules; savepoint; near ids, bump, event and its subjects;
    # breaches; release: one query more than before this rule existed (the first)
    with django_assert_num_queries(8):
        assert review_sla_sweep() == {"near": 2, "breached": 0}

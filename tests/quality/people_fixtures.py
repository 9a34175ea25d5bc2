"""Builders for the people tests (tests/quality/test_people*.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from reviewapp.core import clock
from reviewapp.governance.models import DocumentKind, DocumentVersion
from reviewapp.models import PoolMembership, Purpose, ReviewItem
from reviewapp.quality.models import GoldItem, GoldServing
from reviewapp.services.claims import review_item_claim_next
from tests.factories import UserFactory
from tests.reviewapp.test_queue_fixtures import decide, make_items


def set_quality(model, **document) -> None:
    """Activate a review-quality version of ``model`` with ``document``."""
    DocumentVersion.objects.filter(model_slug=model.slug, kind=DocumentKind.REVIEW_QUALITY).update(
        is_active=False
    )
    last = DocumentVersion.objects.filter(
        model_slug=model.slug, kind=DocumentKind.REVIEW_QUALITY
    ).count()
    DocumentVersion.objects.create(
        kind=DocumentKind.REVIEW_QUALITY,
        model_slug=model.slug,
        version=last + 1,
        document=document,
        is_active=True,
    )


def member(model, username: str, *, roles=("reviewer",)):
    user = UserFactory(username=username, roles=list(roles))
    PoolMembership.objects.get_or_create(model=model, user=user)
    return user


def timed_decisions(model, user, n: int, seconds: float, *, start: dt.datetime, action="accept"):
    """``user`` claims and accepts ``n`` fresh items, each decided ``seconds`` after its claim."""
    make_items(model, n, prefix=f"{user.username}-{seconds}")
    at = start
    for _i in range(n):
        with clock.travel(at):
            item = review_item_claim_next(user=user)
        assert item is not None
        with clock.travel(at + dt.timedelta(seconds=seconds)):
            decide(item, user, action)
        at += dt.timedelta(seconds=seconds + 1)
    return at


def make_gold(model, n: int, *, by, decider, label: str | None = None) -> list[GoldItem]:
    """``n`` decided routed items of ``model`` marked gold with ``label`` (default: the model's
    own answer, so accepting is right)."""
    items = make_items(model, n, prefix=f"gold-{GoldItem.objects.count()}")
    for _i in items:
        decide(review_item_claim_next(user=decider), decider, "accept")
    golds = []
    for item in items:
        golds.append(
            GoldItem.objects.create(
                model=model,
                prediction=item.prediction,
                source_item=item,
                label=label or item.prediction.label,
                model_label=item.prediction.label,
                marked_by=by,
            )
        )
    return golds


def serve_scored_gold(model, reviewer, golds, *, correct: int) -> None:
    """Gold servings to ``reviewer`` scored now: the first ``correct`` right, the rest wrong."""
    now = clock.now()
    for i, gold in enumerate(golds):
        item = ReviewItem.objects.create(
            prediction=gold.prediction,
            model=model,
            purpose=Purpose.GOLD,
            for_reviewer=reviewer,
            status=ReviewItem.Status.DECIDED,
            sla_due_at=now + dt.timedelta(hours=1),
        )
        GoldServing.objects.create(
            gold=gold,
            item=item,
            reviewer=reviewer,
            model=model,
            result=GoldServing.Result.CORRECT if i < correct else GoldServing.Result.WRONG,
            scored_at=now,
        )


@pytest.fixture
def lead_user(db):
    return UserFactory(username="lee", roles=["lead"])

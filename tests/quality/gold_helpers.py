"""Builders shared by the gold tests (tests/quality/test_gold*.py)."""

from __future__ import annotations

from reviewapp.governance.models import DocumentKind, DocumentVersion
from reviewapp.models import Decision, ReviewItem
from reviewapp.quality.models import GoldItem
from reviewapp.quality.services.gold import gold_mark
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.decisions import review_item_decide
from tests.reviewapp.test_queue_fixtures import make_items


def set_quality(model, **document) -> None:
    """Make ``document`` the model's active review-quality settings (a test shortcut for the
    change request that would activate it)."""
    rows = DocumentVersion.objects.filter(model_slug=model.slug, kind=DocumentKind.REVIEW_QUALITY)
    rows.update(is_active=False)
    DocumentVersion.objects.create(
        model_slug=model.slug,
        kind=DocumentKind.REVIEW_QUALITY,
        version=rows.count() + 1,
        document=document,
        is_active=True,
    )


def claim_and_decide(user, action: str = "accept", **fields) -> tuple[ReviewItem, Decision]:
    """The reviewer claims their next item and decides it."""
    item = review_item_claim_next(user=user)
    assert item is not None, "nothing to claim"
    decision = review_item_decide(
        item_id=item.pk, user=user, action=action, generation=item.claim_generation, **fields
    )
    return item, decision


def decided_items(model, reviewer, n: int, *, prefix: str = "g", override: int = 0):
    """``n`` routed items of ``model`` decided by ``reviewer``: the first ``override`` of them
    overridden to the model's other label, the rest accepted."""
    make_items(model, n, prefix=prefix)
    out = []
    for i in range(n):
        if i < override:
            other = next(label for label in model.labels if label != model.labels[0])
            item, _ = claim_and_decide(reviewer, "override", label=other, reason="wrong")
        else:
            item, _ = claim_and_decide(reviewer)
        out.append(item)
    return out


def mark(item, lead, **fields) -> GoldItem:
    return gold_mark(item_id=item.pk, user=lead, **fields)

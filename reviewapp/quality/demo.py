"""The demo's review-quality data. ``seed_gold`` is called by ``seed_demo`` after the month of
history (the merger wires the call), so the gold set page and the API have something to show."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import F

from reviewapp.models import Decision, Purpose

from .models import GoldItem
from .services.gold import gold_mark

DEMO_MODEL = "card-fraud"
DEMO_LEAD = "lee"
GOLD_TOTAL = 12
ADVERSARIAL = 4


def seed_gold() -> int:
    """Mark about 12 decided card-fraud items as gold (4 where the reviewer overrode the model:
    adversarial), as lee. Sets nothing else (the gold rate stays the model's governed setting).
    Idempotent: a demo that already has gold keeps it. Returns how many were marked."""
    if GoldItem.objects.filter(model__slug=DEMO_MODEL).exists():
        return 0
    lead = get_user_model().objects.filter(username=DEMO_LEAD).first()
    if lead is None:
        return 0
    decided = Decision.objects.filter(
        model__slug=DEMO_MODEL,
        item__purpose=Purpose.ROUTED,
        item__status="decided",
        undone_at__isnull=True,
    ).order_by("-decided_at", "-id")
    overridden = decided.filter(action=Decision.Action.OVERRIDE).exclude(
        final_label=F("prediction__label")
    )
    accepted = decided.filter(action=Decision.Action.ACCEPT)
    picks = list(overridden.values_list("item_id", flat=True)[:ADVERSARIAL])
    picks += list(accepted.values_list("item_id", flat=True)[: GOLD_TOTAL - len(picks)])
    marked = 0
    for item_id in dict.fromkeys(picks):
        gold_mark(
            item_id=item_id,
            user=lead,
            rationale="Demo gold: the answer was checked against the chargeback outcome.",
        )
        marked += 1
    return marked

"""Delivery test data: routed items and decisions built directly (the queue app's services
are built in parallel; these rows look like what they write)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from reviewapp.governance.models import PolicyVersion
from reviewapp.models import Decision, Prediction, ReviewItem
from tests.factories import make_policy

FALLBACK = {"action": "hold", "label": "legit", "note": "hold the transaction for manual check"}


def make_item(model, *, external_id: str = "", confidence: float = 0.55, label: str = "", **kw):
    """A routed prediction with its review item, as the router would leave them."""
    policy = PolicyVersion.objects.filter(model_slug=model.slug, is_active=True).first()
    if policy is None:
        policy = make_policy(model)
    now = timezone.now()
    label = label or model.labels[0]
    prediction = Prediction.objects.create(
        model=model,
        external_id=external_id or f"ext-{Prediction.objects.count() + 1}",
        model_version="2026.11.1",
        input={"amount": 912.5, "country": "NL"},
        output={"label": label, "scores": {label: confidence}},
        label=label,
        confidence=confidence,
        occurred_at=now,
        status=Prediction.Status.IN_REVIEW,
        routed=True,
        reason_codes=["low_confidence"],
        threshold=0.7,
        policy_version=policy,
        policy_hash=policy.rules_hash,
        fallback=FALLBACK,
        routed_at=now,
    )
    return ReviewItem.objects.create(
        prediction=prediction,
        model=model,
        sla_due_at=kw.pop("sla_due_at", now + dt.timedelta(hours=1)),
        **kw,
    )


def make_decision(
    item,
    reviewer,
    *,
    action: str = Decision.Action.ACCEPT,
    final_label: str = "",
    decided_at: dt.datetime | None = None,
    grace: dt.timedelta = dt.timedelta(seconds=-5),
    undone: bool = False,
    reason: str = "",
):
    """A decision whose undo grace period ends ``grace`` after it (negative: already over)."""
    decided_at = decided_at or timezone.now() - dt.timedelta(seconds=10)
    prediction = item.prediction
    if action == Decision.Action.ACCEPT:
        final_label = final_label or prediction.label
    return Decision.objects.create(
        item=item,
        prediction=prediction,
        model=item.model,
        reviewer=reviewer,
        action=action,
        final_label=final_label,
        final_output={"label": final_label} if final_label else None,
        reason=reason,
        failure_mode_tags=["currency-drift"] if action == Decision.Action.OVERRIDE else [],
        model_confidence=prediction.confidence,
        decided_at=decided_at,
        deliver_after=timezone.now() + grace,
        undone_at=timezone.now() if undone else None,
        undone_by=reviewer if undone else None,
    )

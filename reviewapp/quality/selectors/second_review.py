"""Reads for blind second reviews and adjudication (leads only: a reviewer never reads them)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from reviewapp.core import roles
from reviewapp.models import Decision

from ..models import SecondReview


def may_adjudicate(user: Any) -> bool:
    return roles.has_role(user, roles.LEAD)


def second_reviews(*, status: str = "") -> QuerySet[SecondReview]:
    """Second reviews, oldest first, with what the list shows."""
    qs = SecondReview.objects.select_related(
        "model",
        "prediction",
        "first_decision__reviewer",
        "second_decision__reviewer",
        "adjudicated_by",
    ).order_by("created_at", "id")
    return qs.filter(status=status) if status else qs


def waiting() -> QuerySet[SecondReview]:
    """Disagreements waiting for a lead, oldest first."""
    return second_reviews(status=SecondReview.Status.ADJUDICATING)


def second_review_get(review_id: int) -> SecondReview | None:
    return second_reviews().filter(pk=review_id).first()


def seconds_taken(decision: Decision | None) -> float | None:
    """From the claim to the decision (``Decision.claimed_at``), when known."""
    if decision is None or decision.claimed_at is None:
        return None
    return max(0.0, (decision.decided_at - decision.claimed_at).total_seconds())


def representation(review: SecondReview) -> dict[str, Any]:
    """A second review as the API answers it."""

    def side(decision: Decision | None) -> dict[str, Any] | None:
        if decision is None:
            return None
        return {
            "decision_id": decision.pk,
            "reviewer": decision.reviewer.get_username(),
            "action": decision.action,
            "label": decision.final_label,
            "reason": decision.reason,
            "note": decision.note,
            "decided_at": decision.decided_at,
            "seconds_taken": seconds_taken(decision),
        }

    prediction = review.prediction
    return {
        "id": review.pk,
        "model": review.model.slug,
        "prediction_id": prediction.pk,
        "model_label": prediction.label,
        "confidence": prediction.confidence,
        "why": review.why,
        "status": review.status,
        "version": review.version,
        "created_at": review.created_at,
        "first": side(review.first_decision),
        "second": side(review.second_decision),
        "final_label": review.final_label or None,
        "adjudicated_by": review.adjudicated_by.get_username() if review.adjudicated_by else None,
        "adjudicated_at": review.adjudicated_at,
        "adjudication_reason": review.adjudication_reason,
        "final_decision_id": review.final_decision_id,
    }

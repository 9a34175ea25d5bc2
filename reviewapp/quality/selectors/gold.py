"""Reads about gold items: the list with its filters and counts, one gold item, and the figures
per gold item (how often served, how often reviewers got it right). For leads, engineers and
the committee only (``services.gold.may_read_gold``); reviewers never read these."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from reviewapp.models import MLModel

from ..models import GoldItem, GoldServing

RETIRED_CHOICES = ("active", "retired", "all")
YES_NO = ("yes", "no")


def gold_list(
    *, model_id: int | None = None, adversarial: bool | None = None, retired: str = "active"
) -> QuerySet[GoldItem]:
    """Gold items newest first, each annotated with ``served`` (servings to reviewers),
    ``correct`` and ``wrong`` (their scored answers)."""
    qs = GoldItem.objects.select_related("model", "prediction", "marked_by", "retired_by")
    if model_id is not None:
        qs = qs.filter(model_id=model_id)
    if adversarial is not None:
        qs = qs.filter(adversarial=adversarial)
    if retired == "active":
        qs = qs.filter(retired_at__isnull=True)
    elif retired == "retired":
        qs = qs.filter(retired_at__isnull=False)
    return qs.annotate(
        served=Count("servings"),
        correct=Count("servings", filter=Q(servings__result=GoldServing.Result.CORRECT)),
        wrong=Count("servings", filter=Q(servings__result=GoldServing.Result.WRONG)),
    ).order_by("-marked_at", "-id")


def gold_get(gold_id: int) -> GoldItem | None:
    return gold_list(retired="all").filter(pk=gold_id).first()


def gold_counts(*, model_id: int | None = None) -> dict[str, int]:
    """Active, adversarial (active) and retired counts, for the filter labels."""
    qs = GoldItem.objects.all()
    if model_id is not None:
        qs = qs.filter(model_id=model_id)
    return qs.aggregate(
        active=Count("id", filter=Q(retired_at__isnull=True)),
        adversarial=Count("id", filter=Q(retired_at__isnull=True, adversarial=True)),
        retired=Count("id", filter=Q(retired_at__isnull=False)),
    )


def models_with_gold() -> list[tuple[str, int]]:
    """(slug, active gold count) of every model, those with gold first."""
    counts = dict(
        GoldItem.objects.filter(retired_at__isnull=True)
        .order_by()
        .values_list("model__slug")
        .annotate(n=Count("id"))
    )
    slugs = MLModel.objects.values_list("slug", flat=True)
    return sorted(((s, counts.get(s, 0)) for s in slugs), key=lambda row: (-row[1], row[0]))


def accuracy(gold: Any) -> float | None:
    """Share of scored answers that were right (escalations left out); None when none."""
    scored = gold.correct + gold.wrong
    return gold.correct / scored if scored else None


def gold_representation(gold: Any) -> dict[str, Any]:
    """The gold item as the API answers it (``gold`` from :func:`gold_list`)."""
    acc = accuracy(gold)
    return {
        "id": gold.pk,
        "model": gold.model.slug,
        "prediction": gold.prediction_id,
        "source_item": gold.source_item_id,
        "label": gold.label,
        "model_label": gold.model_label,
        "confidence": gold.prediction.confidence,
        "adversarial": gold.adversarial,
        "origin": gold.origin,
        "rationale": gold.rationale,
        "marked_by": gold.marked_by.get_username(),
        "marked_at": gold.marked_at,
        "retired_at": gold.retired_at,
        "retired_by": gold.retired_by.get_username() if gold.retired_by else None,
        "retire_reason": gold.retire_reason,
        "served": gold.served,
        "correct": gold.correct,
        "wrong": gold.wrong,
        "accuracy": None if acc is None else round(acc, 4),
    }


def gold_of_item(item_id: int) -> GoldItem | None:
    """The gold item whose prediction is that of review item ``item_id`` (if any)."""
    return (
        GoldItem.objects.filter(prediction__review_items__pk=item_id).only("pk", "model_id").first()
    )

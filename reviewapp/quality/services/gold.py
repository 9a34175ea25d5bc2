"""Gold items. A minimal stand-in for the gold part's service, so adjudication can mark gold
here; the gold part's own module replaces this file when the parts are merged (same
signature: ``gold_mark(item_id=, label=, rationale=, user=, origin=)``)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import roles
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied
from reviewapp.models import ReviewItem

from ..models import GoldItem


def gold_mark(
    *, item_id: int, label: str, rationale: str = "", user: Any, origin: str = "marked"
) -> GoldItem:
    """Mark the prediction of decided item ``item_id`` gold with the known answer ``label``."""
    if not roles.has_role(user, roles.LEAD):
        raise PermissionDenied(_("Only leads mark gold items."))
    with transaction.atomic():
        item = ReviewItem.objects.select_related("prediction", "model").filter(pk=item_id).first()
        if item is None:
            raise NotFound(_("No item #%(id)s.") % {"id": item_id}, field="item")
        if GoldItem.objects.filter(prediction_id=item.prediction_id).exists():
            raise Conflict(_("This prediction is already a gold item."), field="item")
        gold = GoldItem.objects.create(
            model=item.model,
            prediction=item.prediction,
            source_item=item,
            label=label,
            model_label=item.prediction.label,
            adversarial=label != item.prediction.label,
            rationale=rationale,
            origin=origin,
            marked_by=user,
        )
        audit_record(
            actor=Actor.user(user),
            verb="quality.gold_item.marked",
            target=gold,
            after={"label": label, "origin": origin},
            data={"item": item.pk, "prediction": item.prediction_id},
        )
    return gold

"""How a model's inputs are presented on the review page: one write, validated and audited
(the declaration's format: reviewapp/presentation.py, docs/presentation.md)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from reviewapp import presentation
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import ServiceError
from reviewapp.models import MLModel


def model_presentation_set(*, model: MLModel, declaration: Any, actor: Actor) -> bool:
    """Store ``declaration`` as the model's presentation; False when it is already the one
    stored (nothing written, nothing audited). Raises ServiceError naming each field that is
    wrong, and then changes nothing."""
    errors = presentation.validate(declaration)
    if errors:
        raise ServiceError(
            "The presentation is not valid: " + "; ".join(f"{k} {v[0]}" for k, v in errors.items()),
            errors=errors,
        )
    after = presentation.normalise(declaration or {})
    with transaction.atomic():
        row = MLModel.objects.select_for_update().get(pk=model.pk)
        before = row.presentation or {}
        if before == after:
            return False
        MLModel.objects.filter(pk=row.pk).update(presentation=after)
        audit_record(
            actor=actor,
            verb="queue.ml_model.presentation_changed",
            target=row,
            before={"presentation": before},
            after={"presentation": after},
        )
    model.presentation = after
    return True

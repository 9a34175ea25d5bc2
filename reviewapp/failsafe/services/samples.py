"""Shift samples: on a persistent shift, recent auto-accepted predictions of the model are
queued for human review (review items with purpose ``shift_sample``), so people check what
passed while the model drifted. The predictions' routing records never change; an overturned
pass reaches the producer as ``decision.corrected`` (delivery's business).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.governance.rules import TIER_PRIORITY
from reviewapp.models import MLModel, Prediction, Purpose, ReviewItem


def shift_sample(
    *, model: MLModel, alert: Any, size: int, now: dt.datetime | None = None
) -> list[int]:
    """Queue up to ``size`` of the model's most recent passed predictions received since the
    shift began (``alert.since``), never a second shift-sample item for a prediction. A
    halted model's predictions (status fallback) were never auto-accepted and are not taken.
    Returns the prediction ids queued (empty: nothing passed during the shift)."""
    now = now or clock.now()
    if size <= 0:
        return []
    sampled = ReviewItem.objects.filter(prediction=OuterRef("pk"), purpose=Purpose.SHIFT_SAMPLE)
    with transaction.atomic():
        ids = list(
            Prediction.objects.filter(
                model=model, status=Prediction.Status.PASSED, received_at__gte=alert.since
            )
            .exclude(Exists(sampled))
            .order_by("-received_at", "-id")
            .values_list("id", flat=True)[:size]
        )
        if not ids:
            return []
        priority = TIER_PRIORITY.get(model.criticality, TIER_PRIORITY["high"])
        due = now + dt.timedelta(minutes=settings.FAILSAFE_SHIFT_SAMPLE_SLA_MINUTES)
        ReviewItem.objects.bulk_create(
            [
                ReviewItem(
                    prediction_id=pk,
                    model=model,
                    purpose=Purpose.SHIFT_SAMPLE,
                    priority=priority,
                    sla_due_at=due,
                    created_at=now,
                    updated_at=now,
                )  # fmt: skip
                for pk in ids
            ],
            ignore_conflicts=True,  # a concurrent sample took one: the unique key keeps one
        )
        audit_record(
            actor=Actor.system(f"monitor:{alert.monitor}"),
            verb="failsafe.shift_sample.queued",
            target=alert,
            data={"model": model.slug, "predictions": ids, "size": size},
            subjects={"reviewapp.prediction": ids},
        )
    return ids

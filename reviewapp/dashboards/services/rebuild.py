"""Starting the rollups over from the first raw row."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record

from ..models import (
    METRIC_COUNTER_FIELDS,
    MetricBucket,
    ModelRollup,
    ModelTotal,
    ReviewerDay,
    RollupWatermark,
)
from .fold import WATERMARK, bucket_minutes


def rollups_rebuild(*, actor: Actor) -> dict[str, Any]:
    """Forget every rollup and start the fold again from the first row.

    For a change of ``DASHBOARD_BUCKET_MINUTES`` (existing rows are aligned to the old width)
    or after restoring raw tables. The next folds re-read the raw tables once, in batches. The
    5-minute buckets' counters are zeroed and folded again; their open-queue samples are kept.
    """
    with transaction.atomic():
        watermark = RollupWatermark.objects.select_for_update().filter(name=WATERMARK).first()
        before = None
        if watermark is not None:
            before = {
                "last_prediction_id": watermark.last_prediction_id,
                "last_decision_id": watermark.last_decision_id,
                "bucket_minutes": watermark.bucket_minutes,
            }
        ModelRollup.objects.all().delete()
        ModelTotal.objects.all().delete()
        ReviewerDay.objects.all().delete()
        # The 5-minute counters are folded again with everything else; the open-queue samples
        # stay (a gauge cannot be re-read from the raw tables), so rules keep their history.
        MetricBucket.objects.update(
            **dict.fromkeys(METRIC_COUNTER_FIELDS, 0), confidence_sum=0.0, updated_at=clock.now()
        )
        RollupWatermark.objects.filter(name=WATERMARK).delete()
        fresh = RollupWatermark.objects.create(name=WATERMARK, bucket_minutes=bucket_minutes())
        after = {"bucket_minutes": fresh.bucket_minutes}
        audit_record(
            actor=actor,
            verb="dashboards.rollups.rebuilt",
            target=("dashboards.rollupwatermark", WATERMARK),
            before=before,
            after=after,
        )
    return after

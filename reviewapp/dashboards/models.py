"""Rollups: counters per (model, time bucket), kept up to date by the worker.

Dashboards and /metrics read these rows and a few cheap live counts, never the raw prediction
or decision tables, so they stay fast at millions of items. Every counter here is written only
by :func:`reviewapp.dashboards.services.rollups_fold` while it holds the watermark row lock.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock

from .stats import CALIBRATION_BUCKETS, TTD_EDGES_SECONDS

TTD_BIN_COUNT = len(TTD_EDGES_SECONDS) + 1  # the last bin is open-ended
TTD_FIELDS = tuple(f"ttd_{i:02d}" for i in range(TTD_BIN_COUNT))
# The plain counters of a rollup row (each summed when rows are combined).
COUNTER_FIELDS = (
    "ingested",
    "routed",
    "passed",
    "decided",
    "accepted",
    "overridden",
    "escalated",
    "deferred",
    "sla_breaches",
)


def empty_ttd_bins() -> list[int]:
    """Default of the former JSON column; migration 0001 still refers to it."""
    return [0] * TTD_BIN_COUNT


def empty_calibration() -> list[int]:
    return [0] * CALIBRATION_BUCKETS


class Counters(models.Model):
    """The figures both the per-bucket rows and the all-time totals carry."""

    ingested = models.PositiveBigIntegerField(default=0)
    routed = models.PositiveBigIntegerField(default=0)
    passed = models.PositiveBigIntegerField(default=0)
    # {reason code: routed predictions carrying it}; one prediction may carry several.
    reasons = models.JSONField(default=dict)
    # Final dispositions (accept + override); escalate and defer are counted apart.
    decided = models.PositiveBigIntegerField(default=0)
    accepted = models.PositiveBigIntegerField(default=0)
    overridden = models.PositiveBigIntegerField(default=0)
    escalated = models.PositiveBigIntegerField(default=0)
    deferred = models.PositiveBigIntegerField(default=0)
    sla_breaches = models.PositiveBigIntegerField(default=0)
    # Time from prediction received to final decision, counted in the log-spaced bins of
    # stats.TTD_EDGES_SECONDS (ttd_15 is open-ended), plus the exact sum for /metrics. One
    # integer column per bin, so the database can SUM histograms across buckets and models.
    ttd_00 = models.PositiveBigIntegerField(default=0)
    ttd_01 = models.PositiveBigIntegerField(default=0)
    ttd_02 = models.PositiveBigIntegerField(default=0)
    ttd_03 = models.PositiveBigIntegerField(default=0)
    ttd_04 = models.PositiveBigIntegerField(default=0)
    ttd_05 = models.PositiveBigIntegerField(default=0)
    ttd_06 = models.PositiveBigIntegerField(default=0)
    ttd_07 = models.PositiveBigIntegerField(default=0)
    ttd_08 = models.PositiveBigIntegerField(default=0)
    ttd_09 = models.PositiveBigIntegerField(default=0)
    ttd_10 = models.PositiveBigIntegerField(default=0)
    ttd_11 = models.PositiveBigIntegerField(default=0)
    ttd_12 = models.PositiveBigIntegerField(default=0)
    ttd_13 = models.PositiveBigIntegerField(default=0)
    ttd_14 = models.PositiveBigIntegerField(default=0)
    ttd_15 = models.PositiveBigIntegerField(default=0)
    ttd_sum_seconds = models.FloatField(default=0.0)
    # Per model-confidence decile (0.0-0.1 ... 0.9-1.0): final decisions, and how many of those
    # the reviewer accepted (agreed with the model).
    calibration_decided = models.JSONField(default=empty_calibration)
    calibration_agreed = models.JSONField(default=empty_calibration)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        abstract = True

    @property
    def ttd_bins(self) -> list[int]:
        return [getattr(self, name) for name in TTD_FIELDS]

    @ttd_bins.setter
    def ttd_bins(self, values: list[int]) -> None:
        for name, value in zip(TTD_FIELDS, values, strict=True):
            setattr(self, name, value)


class ModelRollup(Counters):
    """Counters for one model over one bucket of ``DASHBOARD_BUCKET_MINUTES``.

    Predictions count in the bucket of their ``received_at`` (so routed / ingested compares the
    same traffic), decisions in the bucket of ``decided_at``, breaches in that of the stamp.
    """

    model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.CASCADE, related_name="dashboard_rollups"
    )
    bucket_start = models.DateTimeField()

    class Meta:
        ordering = ["model", "bucket_start"]
        constraints = [
            models.UniqueConstraint(fields=["model", "bucket_start"], name="rollup_model_bucket")
        ]
        indexes = [models.Index(fields=["bucket_start"], name="rollup_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.model_id} @ {self.bucket_start:%Y-%m-%d %H:%M}"


class ModelTotal(Counters):
    """All-time counters per model: what /metrics exposes as Prometheus counters."""

    model = models.OneToOneField(
        "reviewapp.MLModel", on_delete=models.CASCADE, related_name="dashboard_total"
    )

    class Meta:
        ordering = ["model"]

    def __str__(self) -> str:
        return f"totals for {self.model_id}"


class ReviewerDay(models.Model):
    """Decisions one reviewer made on one model's items on one UTC day."""

    model = models.ForeignKey("reviewapp.MLModel", on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    decided = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    overridden = models.PositiveIntegerField(default=0)
    escalated = models.PositiveIntegerField(default=0)
    deferred = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["model", "day", "reviewer"]
        constraints = [
            models.UniqueConstraint(fields=["model", "reviewer", "day"], name="reviewer_day_unique")
        ]
        indexes = [models.Index(fields=["model", "day"], name="reviewer_day_model_idx")]

    def __str__(self) -> str:
        return f"{self.reviewer_id} on {self.model_id} {self.day}"


class RollupWatermark(models.Model):
    """How far the fold has read each source stream. One row (``name='main'``).

    Everything at or below a watermark is in the rollups exactly once; the fold locks this row
    (SELECT ... FOR UPDATE on PostgreSQL, SQLite's single writer elsewhere), so two concurrent
    runs fold each row once between them.
    """

    name = models.CharField(max_length=32, unique=True, default="main")
    last_prediction_id = models.BigIntegerField(default=0)
    last_decision_id = models.BigIntegerField(default=0)
    # Breach stamps are not in id order, so their watermark is (stamp time, item id).
    last_breach_at = models.DateTimeField(null=True, blank=True)
    last_breach_item_id = models.BigIntegerField(default=0)
    # Envelopes the ingest queue refused (``RejectedEnvelope``), for the rejected-envelope rate.
    last_rejected_id = models.BigIntegerField(default=0)
    bucket_minutes = models.PositiveIntegerField(default=60)
    folded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(bucket_minutes__gte=1), name="watermark_bucket_positive"
            )
        ]

    def __str__(self) -> str:
        return _("rollup watermark %(name)s") % {"name": self.name}


# Width of the fine buckets safety rules read. Fixed: rules name durations in minutes and are
# judged bucket by bucket, so a different width would change what an agreed rule means.
METRIC_BUCKET_MINUTES = 5
# Counters of a MetricBucket (each summed when buckets are combined into a window).
METRIC_COUNTER_FIELDS = (
    "received",
    "routed",
    "passed",
    "accepted",
    "overridden",
    "escalated",
    "deferred",
    "qa_decided",
    "qa_overridden",
    "sla_breaches",
    "confidence_count",
    "low_confidence",
    "ood",
    "anomalies",
    "fallback",
    "rejected",
)


class MetricBucket(models.Model):
    """One model's figures over one 5-minute UTC bucket, for automatic rules (rollback
    triggers, fail-safe monitors). Written only by the fold (beside the hourly rollups, from the
    same batch) and kept ``DASHBOARD_METRICS_RETENTION_DAYS``; see docs/dashboards.md.

    Counters follow the rollups' bucket rules (predictions by ``received_at``, decisions by
    ``decided_at``, breaches by the stamp). ``open_queue`` is a gauge: the fold samples the open
    review items at the time it runs and writes the sample into the bucket of that time, so the
    value of a bucket is the last sample taken in it (``open_queue_max`` the largest).
    """

    model = models.ForeignKey("reviewapp.MLModel", on_delete=models.CASCADE, related_name="+")
    bucket_start = models.DateTimeField()
    received = models.PositiveIntegerField(default=0)
    routed = models.PositiveIntegerField(default=0)
    passed = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    overridden = models.PositiveIntegerField(default=0)
    escalated = models.PositiveIntegerField(default=0)
    deferred = models.PositiveIntegerField(default=0)
    # Final decisions on QA samples (confident predictions routed only as a random sample,
    # i.e. ones that would have been auto-accepted), and how many of those were overridden.
    qa_decided = models.PositiveIntegerField(default=0)
    qa_overridden = models.PositiveIntegerField(default=0)
    sla_breaches = models.PositiveIntegerField(default=0)
    # Model confidence of the predictions received: mean = sum / count.
    confidence_sum = models.FloatField(default=0.0)
    confidence_count = models.PositiveIntegerField(default=0)
    # Of the predictions received: routed with reason low_confidence, ood_above_limit,
    # data_anomaly; and answered with the fallback because the model was halted (never passed).
    low_confidence = models.PositiveIntegerField(default=0)
    ood = models.PositiveIntegerField(default=0)
    anomalies = models.PositiveIntegerField(default=0)
    fallback = models.PositiveIntegerField(default=0)
    # Envelopes for this model the ingest queue refused (by their ``received_at``).
    rejected = models.PositiveIntegerField(default=0)
    open_queue = models.PositiveIntegerField(null=True, blank=True)
    # Age in minutes of the oldest open review item, sampled with ``open_queue``.
    oldest_waiting_minutes = models.FloatField(null=True, blank=True)
    open_queue_max = models.PositiveIntegerField(null=True, blank=True)
    open_queue_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["model", "bucket_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "bucket_start"], name="metric_bucket_model_start"
            )
        ]
        # Pruning deletes by age across models.
        indexes = [models.Index(fields=["bucket_start"], name="metric_bucket_start_idx")]

    def __str__(self) -> str:
        return f"{self.model_id} @ {self.bucket_start:%Y-%m-%d %H:%M} (5 min)"

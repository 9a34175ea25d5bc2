"""The transactional outbox of what goes back to producers, and its per-attempt log.

One delivery per delivered decision (``decision.made`` or ``decision.corrected``) and one per
timed-out review item: unique constraints make
the beat task that fills the outbox idempotent under concurrency. The body is frozen when the
row is created, so every retry sends the same bytes under the same ``webhook-id``.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock


class Delivery(models.Model):
    class Kind(models.TextChoices):
        DECISION = "decision", _("Decision")
        TIMED_OUT = "timed_out", _("Timed out")
        # A human overturned a prediction that had passed (a shift sample): DESIGN's
        # ``decision.corrected``.
        CORRECTED = "corrected", _("Correction")
        # The model's operating mode changed (no item: an event about the model).
        MODE_CHANGED = "mode_changed", _("Mode changed")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        # The receiver answered 410 Gone: it wants no more deliveries of this message.
        STOPPED = "stopped", _("Stopped (410 Gone)")
        # The model has no callback URL: the producer reads the decision feed instead.
        SKIPPED = "skipped", _("Skipped (no callback URL)")
        # The decision was undone, or the item decided before its time-out notice went out.
        CANCELLED = "cancelled", _("Cancelled")

    EVENT_TYPES = {
        Kind.DECISION: "decision.made",
        Kind.TIMED_OUT: "review.timed_out",
        Kind.CORRECTED: "decision.corrected",
        Kind.MODE_CHANGED: "model.mode_changed",
    }

    id = models.BigAutoField(primary_key=True)
    # The public message id sent as `webhook-id`: stable across retries, so receivers dedupe.
    message_id = models.CharField(max_length=40, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    event_type = models.CharField(max_length=40)
    model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.PROTECT, related_name="deliveries"
    )
    # None for events about the model itself (its mode changed).
    item = models.ForeignKey(
        "reviewapp.ReviewItem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deliveries",
    )
    decision = models.ForeignKey(
        "reviewapp.Decision",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deliveries",
    )
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Retries stop (status failed) once the next attempt would fall after this; set at creation
    # to created_at + WEBHOOK_MAX_AGE_HOURS and renewed when a lead retries by hand.
    retry_until = models.DateTimeField(null=True, blank=True)
    # Set while a sender holds the row (a lease that ends at next_attempt_at); a result is
    # recorded only by the sender whose token still matches.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    # Written by the fill that inserted the row: lets it count its own inserts after an
    # INSERT ... ON CONFLICT DO NOTHING without guessing.
    fill_token = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        permissions = [("retry_delivery", "Can retry a failed delivery now")]
        constraints = [
            models.UniqueConstraint(fields=["decision"], name="delivery_one_per_decision"),
            models.UniqueConstraint(
                fields=["item"],
                condition=Q(kind="timed_out"),
                name="delivery_one_timeout_per_item",
            ),
            # A decision and a correction carry their decision; a time-out notice and a mode
            # change carry none.
            models.CheckConstraint(
                condition=(Q(kind__in=["decision", "corrected"]) & Q(decision__isnull=False))
                | (Q(kind="timed_out") & Q(decision__isnull=True))
                # An event about the model itself names neither an item nor a decision.
                | (Q(kind="mode_changed") & Q(decision__isnull=True) & Q(item__isnull=True)),
                name="delivery_kind_matches_decision",
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False),
                name="delivery_pending_is_scheduled",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["status", "-id"], name="delivery_status_idx"),
            models.Index(fields=["model", "status", "-id"], name="delivery_model_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id}"

    @staticmethod
    def new_message_id() -> str:
        return f"msg_{uuid.uuid4().hex}"


class DeliveryAttempt(models.Model):
    """One HTTP attempt (or a refusal to attempt). Append-only."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        RETRY = "retry", _("Will retry")
        STOPPED = "stopped", _("Stopped (410 Gone)")
        FAILED = "failed", _("Failed, no more retries")

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    url = models.CharField(max_length=2000, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number_unique"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"

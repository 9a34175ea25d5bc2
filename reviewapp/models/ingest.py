from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reviewapp.core.fields import EncryptedTextField


class Criticality(models.TextChoices):
    CRITICAL = "critical", _("Critical")
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class MLModel(models.Model):
    """A registered model service whose uncertain predictions come here."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    owner_team = models.CharField(max_length=200)
    criticality = models.CharField(
        max_length=16, choices=Criticality.choices, default=Criticality.HIGH
    )
    labels = models.JSONField(help_text=_("The label set the model predicts from."))
    description = models.TextField(blank=True)
    callback_url = models.URLField(blank=True)
    # The webhook signing secret, stored encrypted (FIELD_ENCRYPTION_KEYS; core/fields.py).
    callback_secret = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]
        verbose_name = "ML model"
        # Leads configure the decision callback; criticality and labels are governed settings
        # (a change request), so no role has change_mlmodel.
        permissions = [("configure_callback", "Can configure a model's decision callback")]

    def __str__(self) -> str:
        return self.slug


class ServiceAccount(models.Model):
    """A producer's machine identity. Only a sha256 of its token is stored."""

    name = models.SlugField(max_length=100, unique=True)
    token_prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    all_models = models.BooleanField(default=False)
    allowed_models = models.ManyToManyField(MLModel, blank=True, related_name="service_accounts")
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Prediction(models.Model):
    """The durable inbox row for one flagged prediction, and then its routing record."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        IN_REVIEW = "in_review", _("In review")
        PASSED = "passed", _("Passed (model output stands)")
        DECIDED = "decided", _("Decided by a reviewer")

    id = models.BigAutoField(primary_key=True)
    model = models.ForeignKey(MLModel, on_delete=models.PROTECT, related_name="predictions")
    external_id = models.CharField(max_length=200)
    model_version = models.CharField(max_length=100)
    input = models.JSONField()
    output = models.JSONField()
    label = models.CharField(max_length=200)
    confidence = models.FloatField()
    signals = models.JSONField(default=dict, blank=True)
    lineage = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey(
        ServiceAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set by the request that inserted the row: a racing duplicate insert sees another value.
    receipt = models.UUIDField(default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # The routing decision, written once by the worker.
    routed = models.BooleanField(null=True)
    reason_codes = models.JSONField(default=list, blank=True)
    reason_details = models.JSONField(default=dict, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    policy_version = models.ForeignKey(
        "governance.PolicyVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    policy_hash = models.CharField(max_length=64, blank=True)
    fallback = models.JSONField(null=True, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    # Everything the rules read, as routing read it (governance.rules.facts_record): replay
    # needs neither the live model row nor the raw input. Null on rows routed before it existed.
    routing_facts = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "external_id"], name="prediction_key_unique"),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="prediction_confidence_range",
            ),
        ]
        indexes = [
            models.Index(
                fields=["enqueued_at"],
                name="prediction_unrouted_idx",
                condition=Q(status="received"),
            ),
            models.Index(fields=["model", "label", "confidence"], name="prediction_similar_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}:{self.external_id}"


class RejectedEnvelope(models.Model):
    """An envelope published straight to the `ingest` queue that failed validation.

    Kept with its errors so leads can see it; never silently dropped.
    """

    received_at = models.DateTimeField(default=timezone.now)
    service_account_name = models.CharField(max_length=100, blank=True)
    envelope = models.JSONField(null=True)
    errors = models.JSONField()
    status_code = models.PositiveSmallIntegerField(default=400)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"rejected envelope #{self.pk}"

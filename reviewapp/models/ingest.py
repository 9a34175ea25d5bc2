from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock
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
    # The people told when the model's monitors fire (beside the free-text owner team).
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # Strict output: refuse (400) a prediction whose label its own scores contradict, instead
    # of routing it to review (``inconsistent_output``). A governed model setting
    # (``strict_output`` in the model_settings document), set here when a version applies.
    strict_output = models.BooleanField(
        default=False,
        help_text=_("Refuse a prediction whose label is not the arg-max of its scores."),
    )
    # How the review page presents the inputs (reviewapp/presentation.py, docs/presentation.md):
    # {} is the inputs table. Not a governed setting: it changes what a reviewer sees, never
    # how a prediction is routed. Leads change it (configure_presentation), audited.
    presentation = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["slug"]
        verbose_name = "ML model"
        # Leads configure the decision callback; criticality and labels are governed settings
        # (a change request), so no role has change_mlmodel.
        permissions = [
            ("configure_callback", "Can configure a model's decision callback"),
            ("configure_presentation", "Can configure how a model's inputs are presented"),
        ]

    def __str__(self) -> str:
        return self.slug


class ServiceAccount(models.Model):
    """A producer's machine identity. Only a sha256 of its token is stored."""

    name = models.SlugField(max_length=100, unique=True)
    token_prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    all_models = models.BooleanField(default=False)
    allowed_models = models.ManyToManyField(MLModel, blank=True, related_name="service_accounts")
    created_at = models.DateTimeField(default=clock.now)
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
        # The model was halted: its output is not used, the producer serves the fallback.
        FALLBACK = "fallback", _("Fallback (model halted)")
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
    # The output's scores as ingest summarised them, computed once per prediction
    # (governance.rules.top_scores): the top label(s) and the label's own score, which is what
    # routing's label/score check reads. Null when the producer sent no scores.
    top_scores = models.JSONField(null=True, blank=True)
    lineage = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=clock.now)
    submitted_by = models.ForeignKey(
        ServiceAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set by the request that inserted the row: a racing duplicate insert sees another value.
    receipt = models.UUIDField(default=uuid.uuid4, editable=False)
    # The X-Request-ID of the request that sent it (the routing chunk's "ingested" audit event
    # lists these, so the request writes no audit row of its own).
    request_id = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # The model's operating mode when the request was accepted (what the ingest answer said).
    mode_at_receipt = models.CharField(max_length=16, default="normal")
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
    # The operating mode the prediction was routed under (authoritative; also in routing_facts).
    routing_mode = models.CharField(max_length=16, blank=True)
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
            # Coalesced routing takes a model's waiting rows oldest first (… WHERE model_id = X
            # AND status = 'received' ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED): a small index,
            # since rows leave it once routed.
            models.Index(
                fields=["model", "id"],
                name="prediction_inbox_idx",
                condition=Q(status="received"),
            ),
            models.Index(fields=["model", "label", "confidence"], name="prediction_similar_idx"),
            # A model's predictions in a time window (an incident's affected predictions, a
            # shift sample, the recovery scoring's recent traffic): without it each of those
            # reads every prediction the model ever had (bench/incident.py, docs/performance.md).
            models.Index(fields=["model", "received_at"], name="prediction_model_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}:{self.external_id}"

    @property
    def review_item(self):
        """The item routing made for this prediction (purpose ``routed``), or None. Samples,
        rechecks and second reviews are other items of ``review_items``. Uses a prefetch of
        ``review_items`` when the caller made one."""
        for item in self.review_items.all():
            if item.purpose == "routed":
                return item
        return None


class Mode(models.TextChoices):
    NORMAL = "normal", _("Normal")
    CONTAINED = "contained", _("Contained")
    HALTED = "halted", _("Halted")


class ModelMode(models.Model):
    """A model's operating mode, read by routing on the hot path. The queue owns the row; only
    the fail-safe app's services write it (``reviewapp.failsafe.services.modes``). No row means
    normal."""

    model = models.OneToOneField(MLModel, on_delete=models.CASCADE, related_name="mode_row")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.NORMAL)
    since = models.DateTimeField(default=clock.now)
    reason = models.TextField(blank=True)
    # Who switched it: a person, or a monitor (its name and rule, in ``set_by_monitor``).
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    set_by_monitor = models.CharField(max_length=200, blank=True)
    # The alert whose persistent shift switched it (automatic containment), if any.
    alert_id = models.BigIntegerField(null=True, blank=True)
    # Who answers for a containment or halt, and by when they must look at it again.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_by = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    # Halted: the share of predictions still queued for review (purpose ``mode_sample``).
    sample_rate = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(sample_rate__gte=0) & Q(sample_rate__lte=1),
                name="model_mode_sample_rate_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}: {self.mode}"


class RejectedEnvelope(models.Model):
    """An envelope published straight to the `ingest` queue that failed validation.

    Kept with its errors so leads can see it; never silently dropped.
    """

    received_at = models.DateTimeField(default=clock.now)
    service_account_name = models.CharField(max_length=100, blank=True)
    envelope = models.JSONField(null=True)
    errors = models.JSONField()
    status_code = models.PositiveSmallIntegerField(default=400)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"rejected envelope #{self.pk}"

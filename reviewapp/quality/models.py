"""Review quality: gold answers, gold servings and their scores, blind second reviews and their
adjudication, and alerts about reviewers.

The queue's own rows carry what the claim must read in one statement (``ReviewItem.for_reviewer``
/ ``excluded_reviewer`` / ``suggestion_masked``, ``PoolMembership`` pause, qualification and
guideline acknowledgement, ``Decision.held``); everything else about quality lives here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock


class GoldItem(models.Model):
    """A decided prediction whose correct answer is known and agreed, marked by a lead.

    ``adversarial``: the model was wrong on it (the answer differs from the model's label), so
    a reviewer who agrees with the model by habit gets it wrong. Retired gold is served no more.
    """

    class Origin(models.TextChoices):
        MARKED = "marked", _("Marked by a lead")
        ADJUDICATED = "adjudicated", _("From an adjudication")

    id = models.BigAutoField(primary_key=True)
    model = models.ForeignKey("reviewapp.MLModel", on_delete=models.PROTECT, related_name="+")
    prediction = models.OneToOneField(
        "reviewapp.Prediction", on_delete=models.PROTECT, related_name="gold"
    )
    # The decided item the answer was taken from (its decision, or the adjudication's).
    source_item = models.ForeignKey(
        "reviewapp.ReviewItem", on_delete=models.PROTECT, related_name="+"
    )
    label = models.CharField(max_length=200)
    model_label = models.CharField(max_length=200)
    adversarial = models.BooleanField(default=False)
    rationale = models.TextField(blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.MARKED)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    marked_at = models.DateTimeField(default=clock.now)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retire_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-marked_at", "-id"]
        indexes = [
            models.Index(
                fields=["model", "adversarial"],
                name="gold_active_idx",
                condition=Q(retired_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"gold #{self.pk} ({self.label})"


class GoldServing(models.Model):
    """One gold item served to one reviewer (a review item of purpose ``gold`` or
    ``qualification``), and how they did: scored when they decide it."""

    class Result(models.TextChoices):
        PENDING = "pending", _("Not decided yet")
        CORRECT = "correct", _("Correct")
        WRONG = "wrong", _("Wrong")
        ESCALATED = "escalated", _("Escalated")

    id = models.BigAutoField(primary_key=True)
    gold = models.ForeignKey(GoldItem, on_delete=models.PROTECT, related_name="servings")
    item = models.OneToOneField(
        "reviewapp.ReviewItem", on_delete=models.PROTECT, related_name="gold_serving"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    model = models.ForeignKey("reviewapp.MLModel", on_delete=models.PROTECT, related_name="+")
    qualification = models.BooleanField(default=False)
    served_at = models.DateTimeField(default=clock.now)
    result = models.CharField(max_length=12, choices=Result.choices, default=Result.PENDING)
    decision = models.ForeignKey(
        "reviewapp.Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    answered_label = models.CharField(max_length=200, blank=True)
    # Copied from the gold item so "accepted when the model was wrong" is one index read.
    adversarial = models.BooleanField(default=False)
    scored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-served_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gold", "reviewer", "qualification"], name="gold_served_once_per_reviewer"
            ),
        ]
        indexes = [
            models.Index(
                fields=["reviewer", "model", "scored_at"], name="gold_serving_reviewer_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"gold #{self.gold_id} to {self.reviewer_id}: {self.result}"


class SecondReview(models.Model):
    """A blind second review of a routed decision, and its adjudication when the two differ.

    The first decision is ``held`` from delivery until the two agree or a lead adjudicates;
    the adjudicated answer is what the producer receives.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the second review")
        AGREED = "agreed", _("Agreed")
        ADJUDICATING = "adjudicating", _("Waiting for adjudication")
        ADJUDICATED = "adjudicated", _("Adjudicated")
        CANCELLED = "cancelled", _("Cancelled")

    class Why(models.TextChoices):
        SAMPLED = "sampled", _("Sampled at the model's second-review rate")
        CONFIDENT_OVERRIDE = "confident_override", _("Override of a confident prediction")
        CRITICAL_OVERRIDE = "critical_override", _("Override on a critical model")
        RISKY_LABEL = "risky_label", _("A label the settings call risky")

    id = models.BigAutoField(primary_key=True)
    model = models.ForeignKey("reviewapp.MLModel", on_delete=models.PROTECT, related_name="+")
    prediction = models.OneToOneField(
        "reviewapp.Prediction", on_delete=models.PROTECT, related_name="second_review"
    )
    first_decision = models.ForeignKey(
        "reviewapp.Decision", on_delete=models.PROTECT, related_name="+"
    )
    second_item = models.OneToOneField(
        "reviewapp.ReviewItem", on_delete=models.PROTECT, related_name="second_review_of"
    )
    second_decision = models.ForeignKey(
        "reviewapp.Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    why = models.CharField(max_length=24, choices=Why.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=clock.now)
    # Adjudication (a lead): the final answer, why, and the decision delivered to the producer.
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    adjudicated_at = models.DateTimeField(null=True, blank=True)
    final_label = models.CharField(max_length=200, blank=True)
    adjudication_reason = models.TextField(blank=True)
    final_decision = models.ForeignKey(
        "reviewapp.Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="second_review_status_idx"),
        ]

    def __str__(self) -> str:
        return f"second review of prediction {self.prediction_id} ({self.status})"


class QualityAlert(models.Model):
    """Something about a reviewer the leads should look at: accepting far faster than their
    peers on the same model, or gold accuracy below the model's bound. One open per
    (reviewer, model, kind); figures say what was measured."""

    class Kind(models.TextChoices):
        FAST_ACCEPT = "fast_accept", _("Accepting much faster than peers")
        GOLD_ACCURACY = "gold_accuracy", _("Gold accuracy below the bound")
        QUALIFICATION_FAILED = "qualification_failed", _("Qualification not passed")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    model = models.ForeignKey("reviewapp.MLModel", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    figures = models.JSONField(default=dict)
    raised_at = models.DateTimeField(default=clock.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reviewer", "model", "kind"],
                condition=Q(status="open"),
                name="quality_alert_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} alert on {self.reviewer_id} ({self.status})"

"""The fail-safe app's records: every mode change, the alerts monitors raise, and the learned
feature profiles. The mode itself is a row the queue owns (``reviewapp.ModelMode``): routing
reads it on the hot path; only :mod:`reviewapp.failsafe.services` writes it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock


class ModeChange(models.Model):
    """One switch of a model's operating mode: who or what authorised it, when, why, and the
    model's monitored metrics at that moment. Append-only (the audit log has it too)."""

    model = models.ForeignKey("reviewapp.MLModel", on_delete=models.PROTECT, related_name="+")
    from_mode = models.CharField(max_length=16)
    to_mode = models.CharField(max_length=16)
    reason = models.TextField()
    # A person, or a monitor (``monitor`` names it and ``rule`` holds its rule).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    monitor = models.CharField(max_length=100, blank=True)
    rule = models.JSONField(default=dict, blank=True)
    alert = models.ForeignKey(
        "failsafe.Alert", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # {monitor name: {"value", "bound", "state"}} when the switch happened.
    metrics = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_by = models.DateTimeField(null=True, blank=True)
    sample_rate = models.FloatField(default=0.0)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model", "-created_at"], name="mode_change_model_idx")]

    def __str__(self) -> str:
        return f"{self.model_id}: {self.from_mode} → {self.to_mode}"

    @property
    def is_automatic(self) -> bool:
        return self.actor_id is None and bool(self.monitor)


class Alert(models.Model):
    """A monitor's bound crossed: open → acknowledged → resolved, one unresolved per
    (model, monitor). A spike notifies; a persistent shift also takes the monitor's action."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        RESOLVED = "resolved", _("Resolved")

    class Shape(models.TextChoices):
        SPIKE = "spike", _("Spike")
        SHIFT = "shift", _("Persistent shift")

    model = models.ForeignKey("reviewapp.MLModel", on_delete=models.PROTECT, related_name="+")
    monitor = models.CharField(max_length=100)
    # The monitor's rule as it was when the alert opened (metric, op, bound, duration_minutes,
    # severity, action) and the monitors document version it came from.
    rule = models.JSONField(default=dict)
    monitors_version = models.PositiveIntegerField(null=True, blank=True)
    severity = models.CharField(max_length=2)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    shape = models.CharField(max_length=8, choices=Shape.choices, default=Shape.SPIKE)
    # When the metric first went past the bound (the first bucket of the episode).
    since = models.DateTimeField()
    value = models.FloatField(null=True, blank=True)
    peak = models.FloatField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    # When the metric came back inside its bound (None while it is past it): the alert
    # resolves once it has stayed inside for the set time.
    inside_since = models.DateTimeField(null=True, blank=True)
    # What the monitor did on a persistent shift: "notify", "contain" or "halt" (and when).
    action_taken = models.CharField(max_length=16, blank=True)
    action_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(default=clock.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledge_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "monitor"],
                condition=~Q(state="resolved"),
                name="alert_one_unresolved_per_monitor",
            ),
        ]
        indexes = [models.Index(fields=["state", "-opened_at"], name="alert_state_idx")]

    def __str__(self) -> str:
        return f"alert {self.pk} ({self.model_id} {self.monitor}, {self.state})"


class FeatureProfile(models.Model):
    """A model's input profile learned from its recent accepted traffic: per input field its
    type, null rate, numeric quantiles and top categories (``profile``; see profiles.py)."""

    model = models.OneToOneField(
        "reviewapp.MLModel", on_delete=models.CASCADE, related_name="feature_profile"
    )
    profile = models.JSONField(default=dict)
    sample_size = models.PositiveIntegerField(default=0)
    window_days = models.PositiveIntegerField(default=7)
    learned_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return f"feature profile of {self.model_id}"

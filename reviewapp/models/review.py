from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock

from .ingest import MLModel, Prediction

# Statuses of an item still waiting for a human (everything but decided).
OPEN_STATUSES = ("pending", "claimed", "deferred", "escalated")

# Priority bands as the queue names them, highest first: (name, lowest priority, band number).
PRIORITY_BANDS = (("high", 70, 2), ("medium", 40, 1), ("low", 0, 0))


def priority_band_expression() -> models.Case:
    """The band number of an item's priority (2 high, 1 medium, 0 low), as SQL."""
    return models.Case(
        *(
            models.When(priority__gte=floor, then=models.Value(n))
            for _, floor, n in PRIORITY_BANDS[:-1]
        ),
        default=models.Value(PRIORITY_BANDS[-1][2]),
    )


class Purpose(models.TextChoices):
    """Why an item exists (DESIGN, "Review items have a purpose"); at most one per purpose."""

    ROUTED = "routed", _("Routed")
    SHIFT_SAMPLE = "shift_sample", _("Shift sample")
    MODE_SAMPLE = "mode_sample", _("Halted-model sample")
    INCIDENT_RECHECK = "incident_recheck", _("Incident recheck")
    SECOND_REVIEW = "second_review", _("Second review")
    GOLD = "gold", _("Gold")
    QUALIFICATION = "qualification", _("Qualification")


# Purposes whose items are served to one named reviewer (``ReviewItem.for_reviewer``).
PER_REVIEWER_PURPOSES = (Purpose.GOLD, Purpose.QUALIFICATION)


class ReviewItem(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        CLAIMED = "claimed", _("Claimed")
        ESCALATED = "escalated", _("Escalated")
        DEFERRED = "deferred", _("Deferred")
        DECIDED = "decided", _("Decided")

    id = models.BigAutoField(primary_key=True)
    prediction = models.ForeignKey(
        Prediction, on_delete=models.PROTECT, related_name="review_items"
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.ROUTED)
    model = models.ForeignKey(MLModel, on_delete=models.PROTECT, related_name="review_items")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    priority = models.PositiveSmallIntegerField(default=0)
    sla_due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claimed_items",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Set by the SLA beat task when the deadline passes undecided; the producer is then told
    # `timed_out` (with the policy's fallback) and the item stays open for a human.
    sla_breached_at = models.DateTimeField(null=True, blank=True)
    # Increases with every claim: a form carries the generation it was rendered for, so a
    # decision from a stale tab (lease lost, item re-claimed) is refused, never applied.
    claim_generation = models.PositiveIntegerField(default=0)
    # Deferred items are not offered before this; a beat task returns them to the queue.
    wake_at = models.DateTimeField(null=True, blank=True)
    defer_count = models.PositiveSmallIntegerField(default=0)
    # Set when a lead (not the reviewer) placed the claim: shown as "assigned by".
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    sla_escalated_at = models.DateTimeField(null=True, blank=True)
    # The priority band, kept by the database from ``priority`` (so every writer of priority,
    # the SLA bump included, keeps it right): claims order by band first, then ``requeued``.
    queue_band = models.GeneratedField(
        expression=priority_band_expression(),
        output_field=models.PositiveSmallIntegerField(),
        db_persist=True,
    )
    # Set by a defer without a "not before" time: the item waits behind the others of its
    # band (QUEUE_ORDER) until it is decided or the deferral is undone.
    requeued = models.BooleanField(default=False, db_default=False)
    # ... and is not offered to the reviewer who deferred it before ``deferred_by_until``.
    deferred_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    deferred_by_until = models.DateTimeField(null=True, blank=True)
    # Review quality (reviewapp/quality): a gold or qualification item is served to one
    # reviewer only; a second review is never offered to the reviewer who decided first.
    for_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    excluded_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The model's answer and confidence are hidden from the reviewer, who picks a label; the
    # decision is an accept or an override by comparison (automation-bias measurement).
    suggestion_masked = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["-priority", "sla_due_at", "id"]
        permissions = [
            ("decide_reviewitem", "Can claim and decide review items"),
            ("manage_queue", "Can assign, release and manage review queues"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="claimed", claimed_by__isnull=False) | ~Q(status="claimed"),
                name="review_claim_has_holder",
            ),
            # A prediction has at most one item per purpose, except gold and qualification,
            # which are served to one reviewer at a time: one per purpose and reviewer.
            models.UniqueConstraint(
                fields=["prediction", "purpose"],
                name="review_item_one_per_purpose",
                condition=~Q(purpose__in=PER_REVIEWER_PURPOSES),
            ),
            models.UniqueConstraint(
                fields=["prediction", "purpose", "for_reviewer"],
                name="review_item_one_per_reviewer",
                condition=Q(purpose__in=PER_REVIEWER_PURPOSES),
            ),
            models.CheckConstraint(
                condition=~Q(purpose__in=PER_REVIEWER_PURPOSES) | Q(for_reviewer__isnull=False),
                name="review_item_served_has_reviewer",
            ),
        ]
        indexes = [
            # The claim's order (QUEUE_ORDER) within one model: "Start reviewing" reads one row.
            models.Index(
                fields=["model", "-queue_band", "requeued", "-priority", "sla_due_at", "id"],
                name="review_next_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["status", "sla_due_at"], name="review_status_sla_idx"),
            # Queue order of open items: serves the queue list and, since status='pending'
            # implies the condition, claims across several pool models.
            models.Index(
                fields=["-queue_band", "requeued", "-priority", "sla_due_at", "id"],
                name="review_open_order_idx",
                condition=Q(status__in=list(OPEN_STATUSES)),
            ),
            # Breached open items, which leads see first.
            models.Index(
                fields=["sla_breached_at"],
                name="review_breached_idx",
                condition=Q(sla_breached_at__isnull=False) & Q(status__in=list(OPEN_STATUSES)),
            ),
            models.Index(
                fields=["claim_expires_at"],
                name="review_lease_idx",
                condition=Q(status="claimed"),
            ),
            models.Index(
                fields=["claimed_by", "status"],
                name="review_holder_idx",
                condition=Q(claimed_by__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"item #{self.pk}"


# The queue's order: highest priority band first; within a band, items sent behind the others
# by a defer come last; then priority, the earliest SLA deadline, and the id to break ties.
# Claims take items in this order and the queue list's "priority" sort shows it.
QUEUE_ORDER = ("-queue_band", "requeued", "-priority", "sla_due_at", "id")


# The decisions "similar decisions" may show: final answers still standing.
SIMILAR = Q(action__in=["accept", "override"], undone_at__isnull=True)


class Decision(models.Model):
    """What a reviewer did with a review item. Append-only; an undo is a new audited fact.

    Final actions (accept, override) are delivered to the producer once ``deliver_after``
    has passed and the decision was not undone; escalate and defer are recorded the same way
    but are not final.
    """

    class Action(models.TextChoices):
        ACCEPT = "accept", _("Accept")
        OVERRIDE = "override", _("Override")
        ESCALATE = "escalate", _("Escalate")
        DEFER = "defer", _("Defer")

    FINAL_ACTIONS = (Action.ACCEPT, Action.OVERRIDE)

    id = models.BigAutoField(primary_key=True)
    item = models.ForeignKey(
        "reviewapp.ReviewItem", on_delete=models.PROTECT, related_name="decisions"
    )
    prediction = models.ForeignKey(
        "reviewapp.Prediction", on_delete=models.PROTECT, related_name="decisions"
    )
    model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.PROTECT, related_name="decisions"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_decisions"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    # The label the model predicted, copied so "similar past decisions" (same model and
    # predicted label, nearest confidence) is two short index range scans.
    predicted_label = models.CharField(max_length=200, blank=True)
    # For accept: the model's label; for override: the corrected one. Empty otherwise.
    final_label = models.CharField(max_length=200, blank=True)
    final_output = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    note = models.TextField(blank=True)
    # Slugs of catalog failure modes the reviewer tagged (the catalog owns their meaning).
    failure_mode_tags = models.JSONField(default=list, blank=True)
    model_confidence = models.FloatField()
    # The reviewer guideline version that was on screen when the decision was made.
    guideline_version = models.ForeignKey(
        "reviewapp.GuidelineVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="decisions",
    )
    decided_at = models.DateTimeField(default=clock.now, db_index=True)
    # When the reviewer's claim on the item began (None when the item was not claimed, e.g.
    # rows from before this field): decided_at - claimed_at is the handling time that
    # "My decisions" reports, kept here because the item's claim is cleared on decide.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Delivered to the producer only after this, so an Undo within the grace period is clean.
    deliver_after = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Held from delivery while a blind second review or an adjudication is open
    # (reviewapp/quality): the producer receives nothing final until it is released.
    held = models.BooleanField(default=False, db_default=False)
    # False when the model's answer was masked on the page (suggestion masking).
    suggestion_shown = models.BooleanField(default=True, db_default=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [
            models.Index(fields=["model", "decided_at"], name="decision_model_time_idx"),
            models.Index(fields=["prediction", "decided_at"], name="decision_prediction_idx"),
            # "My decisions": one reviewer's decisions, newest first.
            models.Index(fields=["reviewer", "-decided_at"], name="decision_reviewer_time_idx"),
            # "Similar decisions" (reviewapp.selectors.context): the nearest confidence above
            # the item's, newest first among ties (forward scan of the first), and the nearest
            # below, newest first too (backward scan of the second). The id column lets a LIMIT
            # stop after a few rows even when thousands of decisions share a rounded confidence.
            models.Index(
                fields=["model", "predicted_label", "model_confidence", "-id"],
                name="decision_similar_up_idx",
                condition=SIMILAR,
            ),
            models.Index(
                fields=["model", "predicted_label", "model_confidence", "id"],
                name="decision_similar_down_idx",
                condition=SIMILAR,
            ),
            # labels: the decisions feed's order (release time, id): reviewapp.delivery.selectors.
            models.Index(
                Coalesce("deliver_after", "decided_at"), "id", name="decision_feed_order_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} on item #{self.item_id}"

    @property
    def is_final(self) -> bool:
        return self.action in self.FINAL_ACTIONS and self.undone_at is None


class PoolMembership(models.Model):
    """A reviewer qualified for one model: the model's reviewer pool is its members.

    Claims only ever offer items of models whose pool holds the reviewer, so a radiology
    item never reaches a fraud reviewer.
    """

    model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.CASCADE, related_name="pool_memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pool_memberships"
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(default=clock.now)
    # Review quality (reviewapp/quality). A member takes live items only while none of these
    # holds: ``qualifying`` (a qualification set of gold items to pass first), ``paused_at``
    # (a lead paused them, with a reason), ``guideline_pending`` (a new guideline version
    # to acknowledge). Qualification and gold items served to them are not held back.
    qualifying = models.BooleanField(default=False, db_default=False)
    qualified_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pause_reason = models.CharField(max_length=500, blank=True)
    guideline_pending = models.BooleanField(default=False, db_default=False)
    # The guideline version this member last acknowledged (0: none).
    guideline_acked = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["model__slug", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["model", "user"], name="pool_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in pool of {self.model_id}"

    @property
    def takes_live_items(self) -> bool:
        return not (self.qualifying or self.paused_at or self.guideline_pending)


class GuidelineVersion(models.Model):
    """One immutable version of a model's reviewer guideline (Markdown, sanitised HTML kept).

    The current guideline is the highest version; decisions point at the version shown.
    """

    model = models.ForeignKey(
        "reviewapp.MLModel", on_delete=models.PROTECT, related_name="guideline_versions"
    )
    version = models.PositiveIntegerField()
    body = models.TextField(help_text=_("Markdown source."))
    html = models.TextField(editable=False, help_text=_("Sanitised HTML rendered from body."))
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["model__slug", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="guideline_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="guideline_version_positive"),
        ]

    def __str__(self) -> str:
        return f"guideline {self.model_id} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise RuntimeError("Guideline versions are immutable; publish a new version.")
        super().save(*args, **kwargs)


class QueueCountSnapshot(models.Model):
    """Open-item counts per (model, status) with SLA and priority breakdowns, kept by beat.

    The queue list reads this one row instead of counting a million rows per page view; when
    the snapshot is missing or old (beat not running) the page counts itself.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    rows = models.JSONField(default=list)
    computed_at = models.DateTimeField()
    took_ms = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="queue_counts_singleton")]

    def __str__(self) -> str:
        return f"queue counts at {self.computed_at:%H:%M:%S}"

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock

from .rules import DEFAULT_ESCALATION, Escalation, escalation_of, rules_hash

# Fields that may change after a version is created: whether it is the active one.
_MUTABLE_FIELDS = {"is_active", "activated_at", "deactivated_at"}


class ImmutableVersionQuerySet(models.QuerySet):
    """Bulk writes obey the same rule as save(): only the activation fields may change, and a
    version is never deleted (past decisions stay explainable)."""

    def update(self, **kwargs):
        if not set(kwargs) <= _MUTABLE_FIELDS:
            raise RuntimeError("Versions are immutable; create a new version instead.")
        return super().update(**kwargs)

    def delete(self):
        raise RuntimeError("Versions are kept forever so past decisions stay explainable.")


class ImmutableVersion(models.Model):
    """What every versioned governed document shares: its model (by slug: governance imports
    nothing from the queue), a number, a canonical hash of its content set on creation, who made
    it and by which change request, and whether it is the active one. Nothing else ever changes.

    A subclass names its content and hash fields (``CONTENT_FIELD``, ``HASH_FIELD``).
    """

    CONTENT_FIELD = ""
    HASH_FIELD = ""

    model_slug = models.SlugField(max_length=100)
    version = models.PositiveIntegerField()
    is_active = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    # The change request that made this version (None: made before change requests existed).
    change_request = models.ForeignKey(
        "governance.ChangeRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if self.pk is None:
            setattr(self, self.HASH_FIELD, rules_hash(getattr(self, self.CONTENT_FIELD)))
        else:
            update_fields = kwargs.get("update_fields")
            if update_fields is None or not set(update_fields) <= _MUTABLE_FIELDS:
                raise RuntimeError("Versions are immutable; create a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("Versions are kept forever so past decisions stay explainable.")


class PolicyVersionQuerySet(ImmutableVersionQuerySet):
    def escalation_for(
        self, version_id: int | None, defaults: Escalation = DEFAULT_ESCALATION
    ) -> Escalation:
        """The escalation rules of one version (the one that routed an item), or ``defaults``."""
        if version_id is None:
            return defaults
        rules = self.filter(pk=version_id).values_list("rules", flat=True).first()
        return escalation_of(rules, defaults)

    def escalation_overrides(self, defaults: Escalation) -> dict[int, Escalation]:
        """{version id: its escalation} of the versions whose escalation differs from
        ``defaults``; every other version (and routing without a policy) uses the defaults."""
        found = {
            pk: escalation_of(rules, defaults)
            for pk, rules in self.filter(rules__has_key="escalation").values_list("id", "rules")
        }
        return {pk: e for pk, e in found.items() if e != defaults}


class PolicyVersion(ImmutableVersion):
    """An immutable set of routing rules for one model. At most one version is active.

    The model is named by slug, not by foreign key: governance imports nothing from the queue.
    """

    CONTENT_FIELD = "rules"
    HASH_FIELD = "rules_hash"

    rules = models.JSONField()
    rules_hash = models.CharField(max_length=64, editable=False)
    note = models.TextField(blank=True)

    objects = PolicyVersionQuerySet.as_manager()

    class Meta:
        ordering = ["model_slug", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["model_slug", "version"], name="policy_version_unique"),
            models.UniqueConstraint(
                fields=["model_slug"], condition=Q(is_active=True), name="policy_one_active"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="policy_version_positive"),
        ]
        permissions = [("approve_policychange", "Can approve threshold change requests")]

    def __str__(self) -> str:
        return f"{self.model_slug} v{self.version} ({self.short_hash})"

    @property
    def short_hash(self) -> str:
        return self.rules_hash[:8]


class DocumentKind(models.TextChoices):
    """The governed documents of a model. Each kind has its own versions and goes stale alone."""

    ROUTING_POLICY = "routing_policy", _("Routing policy")
    MODEL_SETTINGS = "model_settings", _("Model settings")
    MONITORS = "monitors", _("Monitors")
    REVIEW_QUALITY = "review_quality", _("Review-quality settings")


class DocumentVersion(ImmutableVersion):
    """An immutable version of a governed document other than the routing policy (which keeps
    its own table, :class:`PolicyVersion`): for now the model settings (criticality tier and
    business profile). Versioned per (model, kind); at most one active per (model, kind)."""

    CONTENT_FIELD = "document"
    HASH_FIELD = "document_hash"

    kind = models.CharField(max_length=32, choices=DocumentKind.choices)
    document = models.JSONField()
    document_hash = models.CharField(max_length=64, editable=False)

    objects = ImmutableVersionQuerySet.as_manager()

    class Meta:
        ordering = ["model_slug", "kind", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_slug", "kind", "version"], name="document_version_unique"
            ),
            models.UniqueConstraint(
                fields=["model_slug", "kind"],
                condition=Q(is_active=True),
                name="document_one_active",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="document_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.model_slug} {self.kind} v{self.version} ({self.document_hash[:8]})"


class ApprovalRule(models.Model):
    """Per-model approval settings beside the criticality defaults: a named approver group
    (instead of the committee) and/or a fixed number of approvals."""

    model_slug = models.SlugField(max_length=100, unique=True)
    approver_group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    required_approvals = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Empty: by criticality tier (setting).")
    )
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["model_slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(required_approvals__isnull=True) | Q(required_approvals__gte=1),
                name="approval_rule_at_least_one",
            ),
        ]

    def __str__(self) -> str:
        return f"approval rule of {self.model_slug}"


class ChangeRequest(models.Model):
    """A proposed new version of one governed document of one model.

    ``status`` moves only through the machine in ``services/machine.py``. ``stale`` runs beside
    it: set when the model's active version of this kind moves past ``base_version``.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        IN_REVIEW = "in_review", _("In review")
        CHANGES_REQUESTED = "changes_requested", _("Changes requested")
        APPROVED = "approved", _("Approved")
        SHADOW = "shadow", _("Shadow period")
        SCHEDULED = "scheduled", _("Scheduled")
        APPLIED = "applied", _("Applied")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        EXPIRED = "expired", _("Expired")

    class EvidenceState(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    OPEN = ("draft", "in_review", "changes_requested", "approved", "shadow", "scheduled")

    model_slug = models.SlugField(max_length=100)
    kind = models.CharField(
        max_length=32, choices=DocumentKind.choices, default=DocumentKind.ROUTING_POLICY
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    # The active version this request changes (None: the model's first version of the kind).
    base_version = models.PositiveIntegerField(null=True, blank=True)
    base_hash = models.CharField(max_length=64, blank=True)
    document = models.JSONField()
    document_hash = models.CharField(max_length=64)
    rationale = models.TextField()
    # None: the system (a bootstrap applied by seed_demo or an install script).
    proposer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Bumped by every edit of the document or the rationale (votes are bound to a revision).
    revision = models.PositiveIntegerField(default=1)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    rollback_triggers = models.JSONField(default=list, blank=True)
    shadow_minutes = models.PositiveIntegerField(null=True, blank=True)
    # The shadow period of an approved request: the proposal runs beside the active version.
    shadow_started_at = models.DateTimeField(null=True, blank=True)
    shadow_ends_at = models.DateTimeField(null=True, blank=True)
    # The evidence the approvers see, written by the evidence module (change_request_evidence_set).
    evidence_hash = models.CharField(max_length=64, blank=True)
    evidence_summary = models.JSONField(default=dict, blank=True)
    # Where the evidence of the current revision stands; ``evidence_errors`` says why it failed.
    evidence_state = models.CharField(
        max_length=10, choices=EvidenceState.choices, default=EvidenceState.PENDING
    )
    evidence_errors = models.JSONField(default=dict, blank=True)
    # Staleness, beside the status.
    stale = models.BooleanField(default=False)
    stale_version = models.PositiveIntegerField(null=True, blank=True)
    stale_actor = models.CharField(max_length=200, blank=True)
    stale_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stale_at = models.DateTimeField(null=True, blank=True)
    # Rollbacks: the earlier version this request restores.
    restores_version = models.PositiveIntegerField(null=True, blank=True)
    # Emergency rollback: applied at once by a lead; one committee ratification within 24 h.
    is_emergency = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    ratification_due = models.DateTimeField(null=True, blank=True)
    ratified_at = models.DateTimeField(null=True, blank=True)
    ratified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The last daily reminder to the committee of an overdue ratification.
    ratification_reminded_at = models.DateTimeField(null=True, blank=True)
    # The open request made when no ratification came in time (ratify or revert).
    follow_up = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    applied_version = models.PositiveIntegerField(null=True, blank=True)
    # When one of the rollback triggers fired (and rolled this request's version back): a
    # trigger fires once.
    triggers_fired_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    # Stamped by every transition, edit, vote and comment: "untouched" for expiry.
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["model_slug", "kind", "status"], name="cr_model_kind_status"),
            models.Index(fields=["status", "scheduled_for"], name="cr_status_scheduled"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(rationale=""), name="change_request_rationale_required"
            ),
        ]

    def __str__(self) -> str:
        return f"change request {self.pk} ({self.model_slug} {self.kind}, {self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class Approval(models.Model):
    """One committee member's vote, bound to the revision and the evidence they saw.

    An edit, a rebase or staleness lapses the votes (``lapsed_at``); they stay for the record.
    """

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.CASCADE, related_name="approvals"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    revision = models.PositiveIntegerField()
    evidence_hash = models.CharField(max_length=64)
    comment = models.TextField(blank=True)
    acknowledge_risk = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=clock.now)
    lapsed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["change_request", "user"],
                condition=Q(lapsed_at__isnull=True),
                name="approval_one_live_vote",
            ),
        ]

    def __str__(self) -> str:
        return f"approval of {self.change_request_id} by {self.user_id}"


class ChangeRequestComment(models.Model):
    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(help_text=_("Markdown source."))
    html = models.TextField(editable=False, help_text=_("Sanitised HTML rendered from body."))
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.change_request_id}"


class ShadowOutcome(models.Model):
    """What a request in its shadow period would have decided for one prediction that live
    routing routed, beside what live routing recorded. The prediction is a plain id (governance
    imports nothing from the queue); written once per (request, prediction), never changed."""

    change_request = models.ForeignKey(
        ChangeRequest, on_delete=models.PROTECT, related_name="shadow_outcomes"
    )
    prediction_id = models.BigIntegerField()
    routed = models.BooleanField()
    reasons = models.JSONField(default=list)
    recorded_routed = models.BooleanField()
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["change_request", "prediction_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["change_request", "prediction_id"], name="shadow_outcome_once"
            ),
        ]
        # No other index: the unique one serves the summary's filter by request, and every
        # index is paid for on the routing hot path.

    def __str__(self) -> str:
        return f"shadow outcome of {self.prediction_id} under {self.change_request_id}"

    @property
    def agrees(self) -> bool:
        return self.routed == self.recorded_routed

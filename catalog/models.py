"""Catalog data: failure modes, mitigation templates, case studies, occurrences, revisions.

Invariants kept here (constraints) rather than in code paths: slugs are unique, an occurrence
is recorded once per (failure mode, source), a revision number is unique per object, and a
failure mode is linked to a mitigation at most once.

``search_vector`` (every field, for matching) and ``rank_vector`` (title, summary and keywords,
for ranking) are filled by PostgreSQL triggers (migrations 0002 and 0004), so every writer
(services, admin, bulk loads) keeps them current; on SQLite they stay empty and search takes the
simpler path in ``catalog.search``. Migration 0004 also keeps, on PostgreSQL only and outside
the ORM, ``catalog_failuremode.tag_ids`` (the entry's tag ids, for facet counts) and the
``catalog_searchword`` vocabulary (for spelling corrections).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock

DEFAULT_REVIEW_INTERVAL_DAYS = 91  # quarterly


class Severity(models.TextChoices):
    S1 = "S1", _("S1 · Critical")
    S2 = "S2", _("S2 · Major")
    S3 = "S3", _("S3 · Moderate")
    S4 = "S4", _("S4 · Minor")


SEVERITY_MEANINGS = {
    Severity.S1: _(
        "Harm to people, a legal or regulatory breach, or a large financial loss; wrong "
        "decisions go out at scale or undetected. Stop the line: page on-call now."
    ),
    Severity.S2: _(
        "A customer-visible wrong outcome or a significant KPI loss for a segment or model. "
        "Respond within one working day; containment before root cause."
    ),
    Severity.S3: _(
        "Measurable but contained degradation with a workaround (human review, fallback). "
        "Fix within the normal planning cycle."
    ),
    Severity.S4: _(
        "Negligible or cosmetic impact, or caught before it reaches a decision. Track it and "
        "fix when convenient."
    ),
}
SEVERITY_TONES = {"S1": "red", "S2": "amber", "S3": "blue", "S4": "grey"}


class Category(models.Model):
    """A node of the managed taxonomy tree (seeded by migration 0003)."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    class Dimension(models.TextChoices):
        DATA_DOMAIN = "data_domain", _("Data domain")
        MODEL_FAMILY = "model_family", _("Model family")
        DEPLOYMENT = "deployment", _("Deployment environment")
        SEGMENT = "segment", _("Customer segment")

    dimension = models.CharField(max_length=20, choices=Dimension.choices)
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ["dimension", "name"]
        constraints = [
            models.UniqueConstraint(fields=["dimension", "name"], name="catalog_tag_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_dimension_display()}: {self.name}"


def default_next_review() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=DEFAULT_REVIEW_INTERVAL_DAYS)


class Stewarded(models.Model):
    """Owner and review rhythm shared by failure modes and mitigation templates."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    review_interval_days = models.PositiveIntegerField(default=DEFAULT_REVIEW_INTERVAL_DAYS)
    next_review_on = models.DateField(default=default_next_review)
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    version = models.PositiveIntegerField(default=1)
    search_vector = SearchVectorField(null=True, editable=False)
    rank_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        abstract = True

    @property
    def is_overdue(self) -> bool:
        return self.next_review_on < timezone.localdate()


class FailureMode(Stewarded):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        IN_REVIEW = "in_review", _("In review")
        PUBLISHED = "published", _("Published")
        DEPRECATED = "deprecated", _("Deprecated")

    class Frequency(models.TextChoices):
        UNKNOWN = "unknown", _("Unknown")
        RARE = "rare", _("Rare (about once a year or less)")
        OCCASIONAL = "occasional", _("Occasional (a few times a year)")
        FREQUENT = "frequent", _("Frequent (monthly or more)")

    class Maturity(models.TextChoices):
        POTENTIAL = "potential", _("Potential")
        DEMONSTRATED = "demonstrated", _("Demonstrated")
        REALISED = "realised", _("Realised in production")

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    summary = models.TextField(help_text=_("One paragraph, shown first."))
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="failure_modes")
    cause = models.TextField(blank=True)
    effect = models.TextField(blank=True)
    latent_conditions = models.TextField(blank=True)
    trigger_steps = models.TextField(blank=True)
    detection_signals = models.TextField(blank=True)
    # Machine-matchable signals: reason codes (low_confidence, drift_signalled ...) and
    # feature names; the review page's "matching failure modes" reads these.
    signal_keys = models.JSONField(default=list, blank=True)
    severity = models.CharField(max_length=2, choices=Severity.choices, default=Severity.S3)
    frequency = models.CharField(max_length=12, choices=Frequency.choices, default="unknown")
    business_impact = models.TextField(blank=True)
    kpis = models.JSONField(default=list, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="failure_modes")
    steward = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    affected_datasets = models.JSONField(default=list, blank=True)
    affected_models = models.JSONField(default=list, blank=True)
    affected_systems = models.JSONField(default=list, blank=True)
    maturity = models.CharField(max_length=12, choices=Maturity.choices, default="potential")
    evidence_links = models.JSONField(default=list, blank=True)  # [{"label", "url"}]
    external_refs = models.JSONField(default=list, blank=True)  # [{"source", "id"}]
    # Tag names, KPIs and model slugs joined, so the trigger can index them (weight B).
    keywords = models.TextField(blank=True, editable=False)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    occurrence_count = models.PositiveIntegerField(default=0, editable=False)
    mitigations = models.ManyToManyField(
        "MitigationTemplate", through="FailureModeMitigation", related_name="failure_modes"
    )

    class Meta:
        ordering = ["title"]
        permissions = [("publish_failuremode", "Can publish and deprecate failure modes")]
        indexes = [
            models.Index(fields=["status", "severity"], name="catalog_fm_status_sev"),
            models.Index(fields=["next_review_on"], name="catalog_fm_next_review"),
            models.Index(fields=["-updated_at"], name="catalog_fm_updated"),
            models.Index(fields=["-occurrence_count"], name="catalog_fm_occ"),
        ]

    def __str__(self) -> str:
        return self.title


class MitigationTemplate(Stewarded):
    class Kind(models.TextChoices):
        DETECTOR = "detector", _("Detector")
        ALERT = "alert", _("Alert")
        CONTAINMENT = "containment", _("Containment")
        ROLLBACK = "rollback", _("Rollback")
        FALLBACK = "fallback", _("Fallback")
        PROCESS = "process", _("Process")

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    summary = models.TextField()
    detector_signals = models.TextField(blank=True)
    alert_thresholds = models.TextField(blank=True)
    procedure_steps = models.JSONField(default=list, blank=True)  # checklist items
    rollback_procedure = models.TextField(blank=True)
    fallback_plan = models.TextField(blank=True)
    expected_ttr_minutes = models.PositiveIntegerField(null=True, blank=True)
    trade_offs = models.TextField(blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class FailureModeMitigation(models.Model):
    class Effectiveness(models.TextChoices):
        PREVENTS = "prevents", _("Prevents")
        DETECTS = "detects", _("Detects")
        REDUCES_IMPACT = "reduces_impact", _("Reduces impact")

    failure_mode = models.ForeignKey(FailureMode, on_delete=models.CASCADE, related_name="links")
    mitigation = models.ForeignKey(
        MitigationTemplate, on_delete=models.CASCADE, related_name="links"
    )
    effectiveness = models.CharField(max_length=16, choices=Effectiveness.choices)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["effectiveness", "mitigation__title"]
        constraints = [
            models.UniqueConstraint(
                fields=["failure_mode", "mitigation"], name="catalog_fm_mitigation_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.mitigation_id} {self.effectiveness} {self.failure_mode_id}"


class MitigationUse(models.Model):
    """Where a mitigation was applied (an incident) and how it worked, for its detail page."""

    mitigation = models.ForeignKey(
        MitigationTemplate, on_delete=models.CASCADE, related_name="uses"
    )
    source_type = models.CharField(max_length=30)
    source_id = models.CharField(max_length=64)
    observed_ttr_minutes = models.PositiveIntegerField(null=True, blank=True)
    recurred = models.BooleanField(null=True)
    recorded_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-recorded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["mitigation", "source_type", "source_id"], name="catalog_mit_use_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_type}:{self.source_id}"


class CaseStudy(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    summary = models.TextField()
    narrative = models.TextField(blank=True)
    occurred_on = models.DateField(null=True, blank=True)
    metrics = models.JSONField(default=list, blank=True)  # [{"name", "before", "after"}]
    timeline = models.JSONField(default=list, blank=True)  # [{"at", "event"}]
    failure_modes = models.ManyToManyField(FailureMode, blank=True, related_name="case_studies")
    mitigations = models.ManyToManyField(
        MitigationTemplate, blank=True, related_name="case_studies"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    version = models.PositiveIntegerField(default=1)
    search_vector = SearchVectorField(null=True, editable=False)
    rank_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["-occurred_on", "title"]
        verbose_name_plural = "case studies"

    def __str__(self) -> str:
        return self.title


class Occurrence(models.Model):
    """One report of a failure mode: a tagged review decision, an incident or a case study."""

    class SourceType(models.TextChoices):
        REVIEW_DECISION = "review_decision", _("Review decision")
        INCIDENT = "incident", _("Incident")
        CASE_STUDY = "case_study", _("Case study")
        MANUAL = "manual", _("Manual report")

    failure_mode = models.ForeignKey(
        FailureMode, on_delete=models.CASCADE, related_name="occurrences"
    )
    source_type = models.CharField(max_length=20, choices=SourceType.choices)
    source_id = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["failure_mode", "source_type", "source_id"],
                name="catalog_occurrence_unique",
            )
        ]
        indexes = [models.Index(fields=["failure_mode", "occurred_at"], name="catalog_occ_fm_at")]

    def __str__(self) -> str:
        return f"{self.source_type}:{self.source_id}"


class Revision(models.Model):
    """A snapshot of an object's content after an edit; restore copies one back as a new edit."""

    class Kind(models.TextChoices):
        FAILURE_MODE = "failure_mode", _("Failure mode")
        MITIGATION = "mitigation", _("Mitigation template")
        CASE_STUDY = "case_study", _("Case study")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    object_id = models.BigIntegerField()
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "object_id", "number"], name="catalog_revision_unique"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="catalog_revision_number"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} v{self.number}"


def _absolute_url(name: str):
    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse(name, args=[self.slug])

    return get_absolute_url


FailureMode.get_absolute_url = _absolute_url("catalog:failure-mode")
MitigationTemplate.get_absolute_url = _absolute_url("catalog:mitigation")
CaseStudy.get_absolute_url = _absolute_url("catalog:case-study")


class PendingRevision(models.Model):
    """A change to a *published* failure mode, waiting for another editor to publish it.

    The entry keeps showing its published content until then. ``changes`` holds the proposed
    values of the fields that change (snapshot form: slugs and usernames), ``base`` the values
    those fields had when the change was proposed, so publishing over a newer published
    version is refused instead of silently undoing it. Status changes go through the
    ``REVISION`` machine in ``catalog.services.revisions`` (core's state machine).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for review")
        PUBLISHED = "published", _("Published")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    failure_mode = models.ForeignKey(
        FailureMode, on_delete=models.CASCADE, related_name="pending_revisions"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    base_version = models.PositiveIntegerField()
    base = models.JSONField(default=dict)
    changes = models.JSONField(default=dict)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=300, blank=True)
    # Every save bumps it, so a decision never lands on an amendment it did not see.
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["failure_mode"],
                condition=Q(status="pending"),
                name="catalog_one_pending_revision",
            )
        ]

    def __str__(self) -> str:
        return f"pending revision {self.pk} of {self.failure_mode_id}"

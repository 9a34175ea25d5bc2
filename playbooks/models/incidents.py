"""Incidents: a model failure being handled, from detection to post-mortem.

An incident pins the playbook version it started with (a later edit of the playbook never
changes a running incident), records the time each milestone was reached (the database
refuses an order that would give a negative duration), and links the models, alerts, review
items and failure modes it is about. Its checklist, notes, root-cause hypotheses, recovery
decisions, post-mortem and action items are rows of their own, each written by one service.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock

SEVERITY_CHOICES = [("S1", "S1"), ("S2", "S2"), ("S3", "S3"), ("S4", "S4")]

# The milestones whose order the database keeps: each pair (earlier, later) may be unset,
# but when both are set the earlier is not after the later.
MILESTONE_ORDER = (
    "impact_started_at",
    "detected_at",
    "contained_at",
    "remediated_at",
    "verified_at",
    "closed_at",
)


def _ordered(earlier: str, later: str) -> Q:
    return (
        Q(**{f"{earlier}__isnull": True})
        | Q(**{f"{later}__isnull": True})
        | Q(**{f"{earlier}__lte": F(later)})
    )


class Incident(models.Model):
    class Status(models.TextChoices):
        DETECTED = "detected", _("Detected")
        TRIAGED = "triaged", _("Triaged")
        CONTAINED = "contained", _("Contained")
        REMEDIATED = "remediated", _("Remediated")
        VERIFIED = "verified", _("Verified")
        CLOSED = "closed", _("Closed")
        CANCELLED = "cancelled", _("Cancelled")

    class Source(models.TextChoices):
        MANUAL = "manual", _("Opened by hand")
        PLAYBOOK = "playbook", _("From a playbook")
        CATALOG = "catalog", _("From a catalog entry")
        ALERT = "alert", _("From an alert")
        ITEMS = "items", _("From review items")
        MONITOR = "monitor", _("Opened by a monitor")
        API = "api", _("Opened through the API")

    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DETECTED)
    severity = models.CharField(max_length=2, choices=SEVERITY_CHOICES)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.MANUAL)
    # The playbook version this incident follows; never moved by a later edit of the playbook.
    playbook_version = models.ForeignKey(
        "playbooks.PlaybookVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="incidents",
    )
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who opened it (None: a monitor; ``opened_by_monitor`` names it).
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_by_monitor = models.CharField(max_length=100, blank=True)
    # Milestones. Impact start may be earlier than detection (MTTD is detection − impact start).
    impact_started_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField(default=clock.now)
    triaged_at = models.DateTimeField(null=True, blank=True)
    contained_at = models.DateTimeField(null=True, blank=True)
    # Resolution: the fix is in (MTTR is remediated − detected).
    remediated_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    # Verified without a confirmed root cause needs a written reason.
    no_root_cause_reason = models.TextField(blank=True)
    next_update_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every edit: a second editor working from an older read gets a 409.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-detected_at", "-id"]
        permissions = [
            ("run_incident", "Can open and run incidents"),
        ]
        indexes = [
            models.Index(fields=["status", "-detected_at"], name="incident_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=_ordered(a, b),
                name=f"incident_{a.removesuffix('_at')}_before_{b.removesuffix('_at')}",
            )
            for i, a in enumerate(MILESTONE_ORDER)
            for b in MILESTONE_ORDER[i + 1 :]
        ] + [
            models.CheckConstraint(
                condition=_ordered("detected_at", "triaged_at"),
                name="incident_detected_before_triaged",
            ),
        ]

    def __str__(self) -> str:
        return f"INC-{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:detail", args=[self.pk])

    @property
    def reference(self) -> str:
        return f"INC-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status not in (self.Status.CLOSED, self.Status.CANCELLED)


class IncidentMember(models.Model):
    """A person's role in an incident besides the commander (one row per person and role)."""

    class Role(models.TextChoices):
        SCRIBE = "scribe", _("Scribe")
        LIAISON = "liaison", _("Communications liaison")
        PARTICIPANT = "participant", _("Participant")
        OBSERVER = "observer", _("Observer")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=12, choices=Role.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["incident_id", "role", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "user", "role"], name="incident_member_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.incident_id}: {self.user_id} as {self.role}"


class IncidentModel(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="model_links")
    model = models.ForeignKey("reviewapp.MLModel", on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "model"], name="incident_model_unique")
        ]
        indexes = [models.Index(fields=["model", "incident"], name="incident_model_lookup")]

    def __str__(self) -> str:
        return f"{self.incident_id} → model {self.model_id}"


class IncidentAlert(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="alert_links")
    alert = models.ForeignKey("failsafe.Alert", on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "alert"], name="incident_alert_unique")
        ]
        indexes = [models.Index(fields=["alert"], name="incident_alert_lookup")]

    def __str__(self) -> str:
        return f"{self.incident_id} → alert {self.alert_id}"


class IncidentItem(models.Model):
    """A review item the incident is about (it was opened from them) or queued (a recheck)."""

    class Kind(models.TextChoices):
        LINKED = "linked", _("Linked")
        RECHECK = "recheck", _("Re-review")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="item_links")
    review_item = models.ForeignKey(
        "reviewapp.ReviewItem", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.LINKED)
    added_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "review_item"], name="incident_item_unique")
        ]
        indexes = [models.Index(fields=["incident", "kind"], name="incident_item_kind")]

    def __str__(self) -> str:
        return f"{self.incident_id} → item {self.review_item_id} ({self.kind})"


class IncidentFailureMode(models.Model):
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="failure_mode_links"
    )
    failure_mode = models.ForeignKey(
        "catalog.FailureMode", on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "failure_mode"], name="incident_failure_mode_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} → failure mode {self.failure_mode_id}"


class IncidentNote(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["incident_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"note {self.pk} on {self.incident_id}"


class IncidentStep(models.Model):
    """One step of the pinned playbook version as it was run: who, when, the evidence, the
    branch taken and the condition as evaluated. A step may run more than once (a branch that
    loops back), so rows are numbered per incident."""

    class Outcome(models.TextChoices):
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Skipped")
        NOT_APPLICABLE = "not_applicable", _("Not applicable (condition false)")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="steps")
    seq = models.PositiveIntegerField()
    step_key = models.CharField(max_length=40)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # The decision point's chosen branch: {"label", "target"}.
    branch = models.JSONField(default=dict, blank=True)
    # [{"kind", "label", "value"}]: links, file names, query results, numbers.
    artifacts = models.JSONField(default=list, blank=True)
    # {"expression", "result"} as evaluated when the step was reached ("true"/"false"/"unknown").
    condition = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    done_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["incident_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "seq"], name="incident_step_seq_unique")
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} #{self.seq} {self.step_key} ({self.outcome})"


class Hypothesis(models.Model):
    """A root-cause hypothesis: what might have caused it, the test that checks it, the
    evidence, the result, a confidence and whether it is confirmed or refuted."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CONFIRMED = "confirmed", _("Confirmed")
        REFUTED = "refuted", _("Refuted")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="hypotheses")
    statement = models.TextField()
    test = models.TextField(blank=True)
    evidence = models.TextField(blank=True)
    result = models.TextField(blank=True)
    # 0–100: how sure the team is.
    confidence = models.PositiveSmallIntegerField(default=50)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["incident_id", "created_at", "id"]
        verbose_name_plural = "hypotheses"
        constraints = [
            models.CheckConstraint(
                condition=Q(confidence__lte=100), name="hypothesis_confidence_lte_100"
            )
        ]

    def __str__(self) -> str:
        return f"hypothesis {self.pk} on {self.incident_id} ({self.status})"


class RecoveryDecision(models.Model):
    """The recovery path chosen for an incident, with the scores it was chosen on (every
    candidate, ranked, and the inputs), the simulated rollback's figures and who authorised
    it. What it set in motion (a change request, an emergency rollback, a mode change) is named
    in ``outcome``."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="decisions")
    path = models.CharField(max_length=24)
    params = models.JSONField(default=dict, blank=True)
    scores = models.JSONField(default=dict, blank=True)
    simulation = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    outcome = models.JSONField(default=dict, blank=True)
    authorised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["incident_id", "-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.incident_id}: {self.path}"


class PostMortem(models.Model):
    """The post-mortem in the shape SRE teams use. The timeline and the impact figures are
    read from the incident when shown; the text here is what people write."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="postmortem")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    summary = models.TextField(blank=True)
    impact = models.TextField(blank=True)
    root_causes = models.TextField(blank=True)
    trigger = models.TextField(blank=True)
    detection = models.TextField(blank=True)
    resolution = models.TextField(blank=True)
    went_well = models.TextField(blank=True)
    went_wrong = models.TextField(blank=True)
    got_lucky = models.TextField(blank=True)
    # What the post-mortem fed back into the catalog (set by the "draft catalog update" action).
    catalog_failure_mode = models.ForeignKey(
        "catalog.FailureMode", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    catalog_case_study = models.ForeignKey(
        "catalog.CaseStudy", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = "post-mortem"

    def __str__(self) -> str:
        return f"post-mortem of {self.incident_id}"


class ActionItem(models.Model):
    class Kind(models.TextChoices):
        PREVENT = "prevent", _("Prevent")
        DETECT = "detect", _("Detect sooner")
        MITIGATE = "mitigate", _("Mitigate")
        PROCESS = "process", _("Process")
        FOLLOW_UP = "follow_up", _("Follow-up")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="action_items")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=300)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_on = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    done_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(fields=["owner", "status", "due_on"], name="action_item_owner_due"),
            models.Index(fields=["status", "due_on"], name="action_item_status_due"),
        ]

    def __str__(self) -> str:
        return f"action {self.pk} on {self.incident_id} ({self.status})"

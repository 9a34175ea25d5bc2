"""Playbooks: a playbook (identity, status, its current version) and its versions.

A version is immutable: every edit inserts a new one and moves the playbook's pointer, so a
running incident keeps the version it started with (``PlaybookVersion`` rows are never
updated; the services only insert, the admin only reads). The document is stored whole with
its SHA-256; ``PlaybookIndex`` rows index a version's failure modes and triggers for the
list's filters.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from reviewapp.core import clock


class Playbook(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    slug = models.SlugField(max_length=120, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    current = models.ForeignKey(
        "PlaybookVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The current version's number, compared in the conditional UPDATE of a new version (a
    # second editor working from the same version gets a 409, not a silent overwrite).
    version = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["slug"]
        permissions = [("publish_playbook", "Can publish or retire a playbook")]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("playbooks:detail", args=[self.slug])


class PlaybookVersion(models.Model):
    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    document = models.JSONField()
    sha256 = models.CharField(max_length=64)
    note = models.CharField(max_length=300, blank=True)
    # Where a catalog draft came from: {"failure_mode": slug} or {"mitigation": slug}.
    source = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["playbook_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "number"], name="playbook_version_unique"),
            models.CheckConstraint(
                condition=models.Q(number__gte=1), name="playbook_version_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.playbook_id} v{self.number}"


class PlaybookIndex(models.Model):
    """One failure mode or trigger monitor a version names (the list's filters)."""

    class Kind(models.TextChoices):
        FAILURE_MODE = "failure_mode", _("Failure mode")
        MONITOR = "monitor", _("Trigger monitor")

    version = models.ForeignKey(PlaybookVersion, on_delete=models.CASCADE, related_name="index")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "kind", "value"], name="playbook_index_unique"
            )
        ]
        indexes = [models.Index(fields=["kind", "value"], name="playbook_index_lookup")]

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"

"""The append-only audit log.

Events are appended by every service without any global lock. A sealer (beat, and on demand)
later chains the not-yet-sealed events in id order into ``AuditSeal`` rows: each seal holds
HMAC-SHA256(key, previous seal hash + the event's canonical form) with a key from the
environment that the database never holds, and names that key's id (older seals without a
key id are plain sha256 links, from before keys existed). After each sealing run the sealer
writes a checkpoint (sequence number, head hash) outside the database (audit_checkpoints.py).
Verification recomputes the chain and compares it with the checkpoints, so an edited,
removed, reordered or re-chained sealed event and a removed tail are detected, and it
reports the unsealed tail. Neither table is ever updated or deleted by the application; on
PostgreSQL triggers refuse UPDATE, DELETE and TRUNCATE outright.

A batch event (one routing chunk, one ingest chunk, one SLA sweep, one outbox fill) names
its many subjects in ``AuditSubject`` rows, written in the event's transaction, so "everything
about item 41" is one indexed lookup instead of a scan of event data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from reviewapp.core import clock


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk writes obey the same rule as save(): rows are only ever inserted."""

    def update(self, **kwargs):
        raise RuntimeError("The audit log is append-only.")

    def delete(self):
        raise RuntimeError("The audit log is append-only.")


class AuditEvent(models.Model):
    class ActorType(models.TextChoices):
        USER = "user", "User"
        SERVICE = "service", "Service account"
        SYSTEM = "system", "System"

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=clock.now, db_index=True)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["target_type", "target_id", "id"], name="audit_target_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.actor_label or self.actor_type} {self.verb} {self.target_type}:{self.target_id}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("Audit events are append-only.")


class AuditSeal(models.Model):
    """One link of the hash chain: seals exactly one event, in the order they were sealed."""

    seq = models.BigAutoField(primary_key=True)
    # No database constraint and no cascade: deleting an event must leave its seal behind,
    # which is how verification notices the removal.
    event = models.OneToOneField(
        AuditEvent,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="seal",
    )
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # Which AUDIT_CHAIN_KEYS entry keyed this link's MAC; empty: a legacy sha256 link.
    key_id = models.CharField(max_length=32, blank=True, default="")
    sealed_at = models.DateTimeField(default=clock.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"seal {self.seq} of event {self.event_id}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("Audit seals are append-only.")
        super().save(*args, **kwargs)


class AuditSubject(models.Model):
    """One subject named by a batch event: an index, derived from the event's data.

    Not part of the hash chain: the chain covers the event (whose ``data`` lists the same
    ids), so these rows add no new facts and sealing, verification and checkpoints never
    read them. They are append-only all the same (same queryset, same PostgreSQL trigger),
    so the index cannot drift from the events it was written with.
    """

    id = models.BigAutoField(primary_key=True)
    # No database constraint, like the seal: tampering that removes an event must stay
    # possible to detect, not blocked by its index rows. No index of its own either: every
    # lookup goes by subject (the composite index below), and hot paths insert many rows.
    event = models.ForeignKey(
        AuditEvent,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="subjects",
    )
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "event"], name="audit_subject_idx")
        ]

    def __str__(self) -> str:
        return f"event {self.event_id} names {self.target_type}:{self.target_id}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("Audit subjects are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("Audit subjects are append-only.")


class AuditVerification(models.Model):
    """One run of the chain verification (``verify_audit``, or beat's daily task): what the
    audit page shows as "last verified". Informational only: the proof is the chain and the
    checkpoints outside the database, which every run re-reads."""

    id = models.BigAutoField(primary_key=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    trigger = models.CharField(max_length=16)  # "command", "beat", "page"
    ok = models.BooleanField()
    sealed = models.BigIntegerField()
    unsealed = models.BigIntegerField()
    first_bad_seq = models.BigIntegerField(null=True, blank=True)
    problems = models.JSONField(default=list, blank=True)
    checkpoint_source = models.CharField(max_length=300, blank=True)
    checkpoint_seq = models.BigIntegerField(null=True, blank=True)
    checkpoint_hash = models.CharField(max_length=64, blank=True)
    checkpoint_at = models.DateTimeField(null=True, blank=True)
    checkpoints_checked = models.IntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"verification {self.pk}: {'ok' if self.ok else 'PROBLEMS'}"


class UserPreference(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference"
    )
    time_zone = models.CharField(max_length=64, default="UTC")

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"


class Notification(models.Model):
    """One message in a person's in-app list (core.notifications.notify writes them).

    A notification is a copy of news about something audited elsewhere: sending it is audited
    (``core.notification.sent``, one event per call), reading it is not.
    """

    id = models.BigAutoField(primary_key=True)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # A registered kind (core.notifications.register_kind), e.g. "core.signin.locked_out".
    kind = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # True: ``body`` is Markdown, shown through core.markdown; False: plain text.
    body_markdown = models.BooleanField(default=False)
    # A path on this site ("/accounts/lockouts/"), never a URL naming a host.
    link = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The list page: one person's notifications, newest first.
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_inbox_idx"),
            # The bell: one person's unread count, read from this small index only.
            models.Index(
                fields=["recipient"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient_id}: {self.title}"


class NotificationPreference(models.Model):
    """A person's choice for one kind; without a row the kind's registered defaults apply."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=64)
    in_app = models.BooleanField()
    email = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_pref_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: in-app {self.in_app}, email {self.email}"

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .rules import DEFAULT_ESCALATION, Escalation, escalation_of, rules_hash

# Fields that may change after a version is created: whether it is the active one.
_MUTABLE_FIELDS = {"is_active", "activated_at", "deactivated_at"}


class PolicyVersionQuerySet(models.QuerySet):
    """Bulk writes obey the same rule as save(): only the activation fields may change."""

    def update(self, **kwargs):
        if not set(kwargs) <= _MUTABLE_FIELDS:
            raise RuntimeError("Policy versions are immutable; create a new version instead.")
        return super().update(**kwargs)

    def delete(self):
        raise RuntimeError("Policy versions are kept forever so past decisions stay explainable.")

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


class PolicyVersion(models.Model):
    """An immutable set of routing rules for one model. At most one version is active.

    The model is named by slug, not by foreign key: governance imports nothing from the queue.
    """

    model_slug = models.SlugField(max_length=100)
    version = models.PositiveIntegerField()
    rules = models.JSONField()
    rules_hash = models.CharField(max_length=64, editable=False)
    note = models.TextField(blank=True)
    is_active = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

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

    def save(self, *args, **kwargs) -> None:
        if self.pk is None:
            self.rules_hash = rules_hash(self.rules)
        else:
            update_fields = kwargs.get("update_fields")
            if update_fields is None or not set(update_fields) <= _MUTABLE_FIELDS:
                raise RuntimeError("Policy versions are immutable; create a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("Policy versions are kept forever so past decisions stay explainable.")

    @property
    def short_hash(self) -> str:
        return self.rules_hash[:8]

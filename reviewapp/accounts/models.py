"""Second factors and personal API tokens.

TOTP devices are django-otp's own (``otp_totp.TOTPDevice``). Recovery codes are a django-otp
device of ours because django-otp's static tokens are stored in plain text: here each code is
kept only as its sha256 (80 random bits per code, so a digest cannot be reversed by trying
codes), and a used code keeps its row with the time it was used.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django_otp.models import Device

from reviewapp.core import clock
from reviewapp.core.tokens import token_digest


def normalise_recovery_code(text: str) -> str:
    """What a person typed, as the code was issued: no spaces or dashes, lower case."""
    return "".join(ch for ch in text.lower() if ch not in " -\t")


class RecoveryCodeDevice(Device):
    """A person's set of one-time recovery codes (one set per person)."""

    created_at = models.DateTimeField(default=clock.now)

    class Meta(Device.Meta):
        constraints = [models.UniqueConstraint(fields=["user"], name="one_recovery_set_per_user")]

    def verify_token(self, token: str) -> bool:
        """Use one unused code (django-otp's device contract). Call inside a transaction:
        the conditional UPDATE makes a code good for exactly one sign-in."""
        code = normalise_recovery_code(token or "")
        if not code:
            return False
        used = self.codes.filter(digest=token_digest(code), used_at__isnull=True).update(
            used_at=clock.now()
        )
        return used == 1


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "digest"], name="recovery_code_unique")
        ]

    def __str__(self) -> str:
        return f"recovery code {self.pk} of {self.device_id}"


class PersonalToken(models.Model):
    """A bearer token that acts as its person: exactly their roles and pools, never more."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personal_tokens"
    )
    name = models.CharField(max_length=100)
    token_prefix = models.CharField(max_length=12, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="personal_token_expires_later"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"

    def is_active(self, now=None) -> bool:
        now = now or clock.now()
        return self.revoked_at is None and self.expires_at > now

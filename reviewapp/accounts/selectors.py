"""Reads of a person's own account."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from reviewapp.core import clock
from reviewapp.core.tokens import token_matches, token_prefix

from .models import PersonalToken, RecoveryCode
from .services import PERSONAL_TOKEN_KIND


def has_second_factor(user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


@dataclass(frozen=True)
class TwoFactorStatus:
    enabled: bool
    since: dt.datetime | None
    last_used: dt.datetime | None
    recovery_codes_left: int
    recovery_codes_total: int


def two_factor_status(user: Any) -> TwoFactorStatus:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()
    codes = RecoveryCode.objects.filter(device__user=user)
    return TwoFactorStatus(
        enabled=device is not None,
        since=device.created_at if device else None,
        last_used=device.last_used_at if device else None,
        recovery_codes_left=codes.filter(used_at__isnull=True).count() if device else 0,
        recovery_codes_total=codes.count() if device else 0,
    )


def personal_tokens_of(user: Any) -> QuerySet[PersonalToken]:
    """The person's tokens, newest first, revoked and expired ones included (for the record)."""
    return PersonalToken.objects.filter(user=user).order_by("-created_at", "-id")


def personal_token_for(token: str) -> PersonalToken | None:
    """The live token record (with its active user) a bearer token names, or None.

    Not cached, unlike service tokens: a revoked or expired personal token stops working on
    the next request, and the lookup is the one query that also loads the user.
    """
    prefix = token_prefix(token, PERSONAL_TOKEN_KIND)
    if prefix is None:
        return None

    record = (
        PersonalToken.objects.select_related("user", "user__preference")
        .filter(token_prefix=prefix, revoked_at__isnull=True, expires_at__gt=clock.now())
        .first()
    )
    if record is None or not token_matches(record.token_hash, token):
        return None
    if not record.user.is_active:
        return None
    return record

"""Every write of a person's own account: second factors, API tokens, password, time zone.

The person is both the actor and the subject, so services take ``user`` (STYLE: ``user`` where
the person is also the subject) and audit as that user.
"""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import NotFound, ServiceError
from reviewapp.core.models import UserPreference
from reviewapp.core.tokens import token_digest, token_new

from .models import PersonalToken, RecoveryCode, RecoveryCodeDevice, normalise_recovery_code

PERSONAL_TOKEN_KIND = "fsp"  # service tokens are "fs_…": a token says which kind it is
RECOVERY_CODE_COUNT = 10
# 32 characters (no i, l, o or u to misread): 16 of them carry 80 bits.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstvwxyz0123456789"
_RECOVERY_LENGTH = 16


def _new_recovery_codes() -> list[str]:
    codes = set()
    while len(codes) < RECOVERY_CODE_COUNT:
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _i in range(_RECOVERY_LENGTH))
        codes.add("-".join(raw[i : i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    return sorted(codes)


def _store_recovery_codes(device: RecoveryCodeDevice, codes: list[str]) -> None:
    RecoveryCode.objects.bulk_create(
        RecoveryCode(device=device, digest=token_digest(normalise_recovery_code(code)))
        for code in codes
    )


# --- two-factor sign-in ---------------------------------------------------------------------
def totp_key_new() -> str:
    """A fresh secret for an authenticator app (hex, as django-otp stores it)."""
    return secrets.token_hex(20)


def totp_config_url(*, user: Any, key: str) -> str:
    """The otpauth:// URI an authenticator app scans, for a key not yet saved."""
    return TOTPDevice(user=user, key=key, name="default").config_url


@dataclass
class Enrolment:
    device: TOTPDevice
    recovery_codes: list[str]


@transaction.atomic
def two_factor_enrol(*, user: Any, key: str, code: str) -> Enrolment:
    """Turn on two-factor sign-in with the authenticator app set up from ``key``, once the
    person proved it works by typing its current code. Returns the recovery codes: the
    only time they exist outside their digests."""
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ServiceError(
            _("Two-factor sign-in is already on for this account."),
            status=409,
            errors={"code": [_("Two-factor sign-in is already on for this account.")]},
            code="conflict",
        )
    device = TOTPDevice(user=user, key=key, name="authenticator", confirmed=True)
    digits = "".join(ch for ch in code or "" if not ch.isspace())
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if not digits.isdigit() or not totp.verify(int(digits), device.tolerance):
        raise ServiceError(
            _("That code did not match."),
            errors={"code": [_("Enter the 6-digit code your authenticator app shows now.")]},
        )
    device.last_t = totp.t()  # the code just used cannot sign in again
    TOTPDevice.objects.filter(user=user).delete()  # an abandoned unconfirmed one, if any
    device.save()
    RecoveryCodeDevice.objects.filter(user=user).delete()
    recovery = RecoveryCodeDevice.objects.create(user=user, name="recovery codes")
    codes = _new_recovery_codes()
    _store_recovery_codes(recovery, codes)
    audit_record(
        actor=Actor.user(user),
        verb="accounts.two_factor.enrolled",
        target=user,
        after={"device": "totp", "recovery_codes": len(codes)},
    )
    return Enrolment(device=device, recovery_codes=codes)


@transaction.atomic
def two_factor_remove(*, user: Any, actor: Actor | None = None) -> None:
    """Turn two-factor sign-in off: the authenticator and every recovery code go.

    ``actor`` is the person themselves unless an operator resets someone who lost both their
    phone and their codes (``manage.py two_factor_reset``)."""
    removed, _counts = TOTPDevice.objects.filter(user=user).delete()
    codes, _counts = RecoveryCodeDevice.objects.filter(user=user).delete()
    if removed or codes:
        audit_record(
            actor=actor or Actor.user(user), verb="accounts.two_factor.removed", target=user
        )


@transaction.atomic
def recovery_codes_regenerate(*, user: Any) -> list[str]:
    """A new set of recovery codes; every old one stops working."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ServiceError(
            _("Turn on two-factor sign-in first."),
            status=409,
            errors={"detail": [_("Turn on two-factor sign-in first.")]},
            code="conflict",
        )
    RecoveryCodeDevice.objects.filter(user=user).delete()
    recovery = RecoveryCodeDevice.objects.create(user=user, name="recovery codes")
    codes = _new_recovery_codes()
    _store_recovery_codes(recovery, codes)
    audit_record(
        actor=Actor.user(user),
        verb="accounts.two_factor.recovery_codes_regenerated",
        target=user,
        after={"recovery_codes": len(codes)},
    )
    return codes


def second_factor_verify(*, user: Any, code: str) -> TOTPDevice | RecoveryCodeDevice | None:
    """The device that accepts ``code`` (an authenticator code, or an unused recovery code,
    which is used up), or None.

    A wrong authenticator code is counted by django-otp's throttle, which must commit: so a
    wrong code returns None rather than raising out of the transaction.
    """
    text = (code or "").strip()
    digits = text.replace(" ", "")
    with transaction.atomic():
        if digits.isdigit() and len(digits) <= 8:
            device = (
                TOTPDevice.objects.select_for_update()
                .filter(user=user, confirmed=True)
                .order_by("id")
                .first()
            )
            return device if device is not None and device.verify_token(digits) else None
        recovery = (
            RecoveryCodeDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        )
        if recovery is None or not recovery.verify_token(text):
            return None
        left = recovery.codes.filter(used_at__isnull=True).count()
        audit_record(
            actor=Actor.user(user),
            verb="accounts.two_factor.recovery_code_used",
            target=user,
            after={"recovery_codes_left": left},
        )
        return recovery


# --- personal API tokens --------------------------------------------------------------------
@dataclass
class IssuedPersonalToken:
    record: PersonalToken
    token: str


@transaction.atomic
def personal_token_create(*, user: Any, name: str, days: int) -> IssuedPersonalToken:
    name = (name or "").strip()
    limit = settings.PERSONAL_TOKEN_MAX_DAYS
    errors: dict[str, list[str]] = {}
    if not name or len(name) > 100:
        errors["name"] = [_("Give the token a name of 1 to 100 characters.")]
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= limit:
        errors["days"] = [_("Choose an expiry of 1 to %(limit)s days.") % {"limit": limit}]
    if errors:
        raise ServiceError(_("The token could not be created."), errors=errors)
    prefix, token = token_new(PERSONAL_TOKEN_KIND)
    now = clock.now()
    record = PersonalToken.objects.create(
        user=user,
        name=name,
        token_prefix=prefix,
        token_hash=token_digest(token),
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
    )
    audit_record(
        actor=Actor.user(user),
        verb="accounts.api_token.created",
        target=record,
        after={"name": name, "prefix": prefix, "expires_at": record.expires_at.isoformat()},
    )
    return IssuedPersonalToken(record=record, token=token)


@transaction.atomic
def personal_token_revoke(*, user: Any, token_id: int) -> PersonalToken:
    """Revoke one of the person's own tokens (someone else's is "not found")."""
    record = PersonalToken.objects.select_for_update().filter(pk=token_id, user=user).first()
    if record is None:
        raise NotFound(_("No such token."), field="token")
    if record.revoked_at is None:
        record.revoked_at = clock.now()
        record.save(update_fields=["revoked_at"])
        audit_record(
            actor=Actor.user(user),
            verb="accounts.api_token.revoked",
            target=record,
            after={"name": record.name, "prefix": record.token_prefix},
        )
    return record


def personal_token_touch(*, record: PersonalToken, now: dt.datetime) -> None:
    """Stamp when a token was last used, at most once a minute per token.

    Bookkeeping, not a change of state: not audited (every API call would be an event), and
    one conditional UPDATE so concurrent requests never write twice in the same minute.
    """
    stale = now - dt.timedelta(seconds=60)
    if record.last_used_at is not None and record.last_used_at > stale:
        return
    PersonalToken.objects.filter(pk=record.pk).exclude(last_used_at__gt=stale).update(
        last_used_at=now
    )


# --- password and preferences ---------------------------------------------------------------
@transaction.atomic
def password_change(*, user: Any, new_password: str) -> None:
    """Set a new password the form already checked (old password, validators)."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record(actor=Actor.user(user), verb="accounts.password.changed", target=user)


@transaction.atomic
def time_zone_set(*, user: Any, time_zone: str) -> UserPreference:
    if time_zone not in zoneinfo.available_timezones():
        raise ServiceError(
            _("Unknown time zone."), errors={"time_zone": [_("Choose a time zone from the list.")]}
        )
    preference, _created = UserPreference.objects.select_for_update().get_or_create(user=user)
    before = preference.time_zone
    if before != time_zone:
        preference.time_zone = time_zone
        preference.save(update_fields=["time_zone"])
        audit_record(
            actor=Actor.user(user),
            verb="accounts.preference.changed",
            target=user,
            before={"time_zone": before},
            after={"time_zone": time_zone},
        )
    return preference

from __future__ import annotations

import time

import pytest
from django_otp.oath import TOTP

from reviewapp.accounts import services


def current_code(key_hex: str, *, offset: int = 0) -> str:
    """What an authenticator app set up with ``key_hex`` shows now (``offset`` steps away)."""
    totp = TOTP(bytes.fromhex(key_hex))
    totp.time = time.time() + offset * 30
    return f"{totp.token():06d}"


@pytest.fixture
def enrolled():
    """``enrolled(user)``: turn on two-factor sign-in; returns (key, recovery codes)."""

    def enrol(user):
        key = services.totp_key_new()
        enrolment = services.two_factor_enrol(user=user, key=key, code=current_code(key))
        return key, enrolment.recovery_codes

    return enrol


@pytest.fixture(autouse=True)
def _no_throttle_delay(settings):
    """django-otp refuses any code for a second after a wrong one; tests that type a wrong
    code and then the right one turn that delay off (the throttle test turns it on)."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0

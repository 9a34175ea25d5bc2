"""Holds a signed-in person at the second step until their sign-in is complete.

After the password a person whose account has an authenticator must type a code (or a
recovery code); a person whose role requires two-factor sign-in and who has none must set it
up. Until then every page sends them to that step and the API treats their session as
nobody's (a token in the Authorization header still works: it is its own credential).

Whether the account has an authenticator is kept in the session and checked against the
database again every ``OTP_DEVICE_RECHECK_SECONDS``, so ordinary pages cost no extra query; a
device set up in another session reaches this one within that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .policy import second_factor_required
from .selectors import has_second_factor

SESSION_KEY = "accounts.second_factor"


def remember_device(request: HttpRequest, *, has_device: bool) -> None:
    request.session[SESSION_KEY] = {"device": has_device, "checked": time.time()}


def _has_device(request: HttpRequest) -> bool:
    state = request.session.get(SESSION_KEY)
    fresh = (
        isinstance(state, dict)
        and time.time() - float(state.get("checked", 0)) < settings.OTP_DEVICE_RECHECK_SECONDS
    )
    if not fresh:
        remember_device(request, has_device=has_second_factor(request.user))
        state = request.session[SESSION_KEY]
    return bool(state["device"])


def pending_step(request: HttpRequest) -> str | None:
    """ "verify", "enrol" or None (sign-in complete, or nothing more asked of this person)."""
    user = request.user
    if not user.is_authenticated or user.is_verified():
        return None
    if _has_device(request):
        return "verify"
    if second_factor_required(user):
        return "enrol"
    return None


class SecondFactorMiddleware:
    """Goes after django-otp's OTPMiddleware (which says whether this session is verified)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        step = pending_step(request)
        if step is None or self._allowed(request, step):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            request.user = AnonymousUser()
            return self.get_response(request)
        target = reverse("accounts:verify" if step == "verify" else "accounts:enrol")
        query = urlencode({"next": request.get_full_path()}) if request.method == "GET" else ""
        return HttpResponseRedirect(f"{target}?{query}" if query else target)

    @staticmethod
    def _allowed(request: HttpRequest, step: str) -> bool:
        path = request.path
        if path.startswith(settings.STATIC_URL):
            return True
        own = reverse("accounts:verify") if step == "verify" else reverse("accounts:enrol")
        return path in {own, reverse("logout"), reverse("healthz")}

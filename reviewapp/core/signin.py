"""Sign-in throttling on top of django-axes: the lockout page, the audit, and a lead's release.

Axes counts failed sign-ins per (username, address) in its ``AccessAttempt`` table and refuses
the pair once the count reaches ``AXES_FAILURE_LIMIT``, for ``AXES_COOLOFF_TIME`` from the
moment of the lockout. This module adds what the project needs around it:

- :func:`lockout_response`: the page a refused sign-in gets (HTTP 429, plain words, the time
  the lockout ends in the reader's zone);
- :func:`signin_lockout_record`: the audit event ``core.signin.locked_out``, once per lockout
  (axes signals every refused attempt; only the one that reached the limit is recorded);
- :func:`signin_lockouts_current` and :func:`signin_lockout_clear`: leads see who is locked
  out now and may lift one (``core.signin.lockout_cleared``).

A lockout that simply runs out writes no event: the ``locked_out`` event names its end.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import clock

from . import roles
from .audit import Actor, audit_record
from .exceptions import NotFound
from .notifications import notify
from .time import iso_utc

SIGNIN_ACTOR = Actor.system("signin")
TARGET_TYPE = "core.signin"
# Leads are told of every lockout (registered by CoreConfig.ready()).
NOTIFY_KIND = "core.signin.locked_out"

# Registered by CoreConfig.ready() (core.verbs); the prefix is this module's own.
VERB_PREFIX = "core.signin."
VERBS = {
    "core.signin.locked_out": gettext_lazy("Sign-in locked out after repeated failures"),
    "core.signin.lockout_cleared": gettext_lazy("Sign-in lockout cleared"),
}


def _limit() -> int:
    return int(settings.AXES_FAILURE_LIMIT)


def _cooloff() -> dt.timedelta:
    return settings.AXES_COOLOFF_TIME


@dataclass(frozen=True)
class Lockout:
    id: int
    username: str
    ip_address: str
    failures: int
    locked_at: dt.datetime
    until: dt.datetime


def _lockout_of(attempt: AccessAttempt) -> Lockout:
    return Lockout(
        id=attempt.pk,
        username=attempt.username or "",
        ip_address=attempt.ip_address or "",
        failures=attempt.failures_since_start,
        locked_at=attempt.attempt_time,
        until=attempt.attempt_time + _cooloff(),
    )


# --- reads --------------------------------------------------------------------------------
def signin_lockouts_current(*, now: dt.datetime | None = None) -> list[Lockout]:
    """Every (username, address) refused now, the one whose lockout ends first first."""
    now = now or clock.now()
    rows = AccessAttempt.objects.filter(
        failures_since_start__gte=_limit(), attempt_time__gt=now - _cooloff()
    ).order_by("attempt_time", "id")
    return [_lockout_of(row) for row in rows]


def _attempt_for(username: str, ip_address: str) -> AccessAttempt | None:
    return (
        AccessAttempt.objects.filter(username=username, ip_address=ip_address)
        .order_by("-attempt_time")
        .first()
    )


# --- the page a refused sign-in gets --------------------------------------------------------
def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the sign-in page's lockout variant, HTTP 429."""
    username = getattr(request, "axes_credentials", None) or credentials or {}
    username = username.get("username", "") if isinstance(username, dict) else ""
    username = username or request.POST.get("username", "")
    attempt = _attempt_for(username, getattr(request, "axes_ip_address", "") or "")
    until = (attempt.attempt_time if attempt else clock.now()) + _cooloff()
    response = render(
        request,
        "registration/locked_out.html",
        {
            "username": username,
            "until": until,
            "minutes": int(_cooloff().total_seconds() // 60),
            "failure_limit": _limit(),
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(max(1, int((until - clock.now()).total_seconds())))
    return response


# --- writes -------------------------------------------------------------------------------
def signin_lockout_record(*, username: str, ip_address: str) -> None:
    """Audit the lockout that a failed sign-in just caused."""
    attempt = _attempt_for(username, ip_address)
    locked_at = attempt.attempt_time if attempt else clock.now()
    until = locked_at + _cooloff()
    with transaction.atomic():
        audit_record(
            actor=SIGNIN_ACTOR,
            verb="core.signin.locked_out",
            target=(TARGET_TYPE, username),
            data={
                "username": username,
                "ip_address": ip_address,
                "failures": attempt.failures_since_start if attempt else _limit(),
                "until": iso_utc(until),
            },
        )
        leads = get_user_model()._default_manager.filter(groups__name=roles.LEAD)
        notify(
            recipients=leads.values_list("pk", flat=True),
            kind=NOTIFY_KIND,
            # Whatever was typed as the username, cut to fit a title (the form allows 150).
            title=_("Sign-in locked out: %(username)s") % {"username": username[:150] or "?"},
            body=_(
                "%(failures)s failed sign-ins for %(username)s from %(address)s. Sign-in is "
                "refused until %(until)s; you may lift the lockout on the lockouts page."
            )
            % {
                "failures": attempt.failures_since_start if attempt else _limit(),
                "username": username or "?",
                "address": ip_address or "?",
                "until": until.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            },
            link=reverse("signin-lockouts"),
            actor=SIGNIN_ACTOR,
        )


def signin_lockout_clear(*, lockout_id: int, actor: Actor) -> Lockout:
    """A lead lifts a lockout: the pair's failure count is forgotten, sign-in works at once."""
    with transaction.atomic():
        attempt = AccessAttempt.objects.select_for_update().filter(pk=lockout_id).first()
        if attempt is None or attempt.failures_since_start < _limit():
            raise NotFound(_("That lockout has already ended or was cleared."), field="lockout")
        lockout = _lockout_of(attempt)
        attempt.delete()
        audit_record(
            actor=actor,
            verb="core.signin.lockout_cleared",
            target=(TARGET_TYPE, lockout.username),
            before={"failures": lockout.failures, "until": iso_utc(lockout.until)},
            data={"username": lockout.username, "ip_address": lockout.ip_address},
        )
    return lockout


# --- axes' signal -------------------------------------------------------------------------
def on_user_locked_out(
    sender: Any, request: HttpRequest | None = None, username: str | None = None, **kwargs: Any
) -> None:
    """Axes sends ``user_locked_out`` for the failure that reaches the limit and again for
    every attempt refused during the lockout; only the first is a new lockout. Axes counts the
    failures (``axes_failures_since_start``) only on the attempt that was not yet refused."""
    if request is None or getattr(request, "axes_failures_since_start", None) is None:
        return
    signin_lockout_record(
        username=username or "", ip_address=kwargs.get("ip_address") or request.axes_ip_address
    )

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import roles, signin
from .audit import Actor
from .exceptions import ServiceError

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        logger.warning("Health check: database is not answering", exc_info=True)
        return False


def _broker_ok() -> bool:
    # The project's Celery app is the current one (the project package creates it on import).
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:  # noqa: BLE001
        logger.warning("Health check: broker is not answering", exc_info=True)
        return False


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 ok; 200 `degraded` when only the broker is down (ingest still accepts); 503 when the
    database is down (nothing can be stored)."""
    database = _database_ok()
    broker = _broker_ok()
    if not database:
        status, code = "down", 503
    elif not broker:
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    return JsonResponse(
        {
            "status": status,
            "database": "ok" if database else "down",
            "broker": "ok" if broker else "down",
            "broker_transport": "filesystem" if settings.BROKER_IS_FILESYSTEM else "network",
        },
        status=code,
    )


# --- Sign-in lockouts (leads) ----------------------------------------------------------------
def _require_lead(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.LEAD):
        raise DjangoPermissionDenied


@login_required
@require_GET
def signin_lockouts(request: HttpRequest) -> HttpResponse:
    """Who may not sign in right now, and a button to let them in again."""
    _require_lead(request)
    return render(
        request,
        "registration/lockouts.html",
        {
            "lockouts": signin.signin_lockouts_current(),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        },
    )


@login_required
@require_POST
def signin_lockout_clear(request: HttpRequest, lockout_id: int) -> HttpResponse:
    _require_lead(request)
    try:
        lockout = signin.signin_lockout_clear(lockout_id=lockout_id, actor=Actor.user(request.user))
    except ServiceError as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(
            request,
            _("%(user)s may sign in from %(address)s again.")
            % {"user": lockout.username, "address": lockout.ip_address},
        )
    return redirect("signin-lockouts")

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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


# --- error pages: JSON under /api/, Django's pages elsewhere ----------------------------------
def _api_error(request: HttpRequest, status: int, message: str) -> JsonResponse | None:
    if request.path.startswith("/api/"):
        return JsonResponse({"errors": {"detail": [message]}}, status=status)
    return None


def bad_request(request: HttpRequest, exception: Exception | None = None):
    return _api_error(request, 400, "Bad request.") or defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None):
    return _api_error(
        request, 403, "You do not have permission to do this."
    ) or defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception | None = None):
    # An API path no endpoint matches (a slug with characters a slug cannot hold, an unknown
    # path): the API's error shape, not an HTML page a client cannot read.
    return _api_error(request, 404, "Not found.") or defaults.page_not_found(request, exception)


def server_error(request: HttpRequest):
    return _api_error(request, 500, "Server error.") or defaults.server_error(request)

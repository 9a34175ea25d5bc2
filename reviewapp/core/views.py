from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from celery import current_app
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core import clock

from . import notifications, roles, selectors, signin, verbs
from .audit import Actor
from .exceptions import ServiceError
from .forms import AuditFilterForm
from .markdown import render_markdown
from .redirects import is_same_origin_path, safe_next
from .time import iso_utc

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


# --- the audit page -------------------------------------------------------------------------
AUDIT_PAGE_SIZE = 50


def _may_read_audit(user: Any) -> bool:
    return roles.has_role(user, roles.LEAD, roles.COMMITTEE)


def _audit_filters(request: HttpRequest) -> tuple[AuditFilterForm, HttpResponse | None]:
    form = AuditFilterForm(request.GET)
    if form.is_valid():
        return form, None
    field, errors = next(iter(form.errors.items()))
    label = form.fields[field].label if field in form.fields else field
    response = render(
        request,
        "core/audit_bad_request.html",
        {"field": field, "label": label, "message": " ".join(errors), "form": form},
        status=400,
    )
    return form, response


def _events_for(form: AuditFilterForm):
    data = form.cleaned_data
    return selectors.audit_events(
        actor=data.get("actor") or "",
        actor_type=data.get("actor_type") or "",
        verbs=form.verbs(),
        target_type=data.get("target_type") or "",
        target_id=data.get("target_id") or "",
        since=data.get("since"),
        until=data.get("until"),
    )


@login_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    if not _may_read_audit(request.user):
        raise PermissionDenied
    form, bad = _audit_filters(request)
    if bad is not None:
        return bad
    events = _events_for(form)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(form.cleaned_data.get("page") or 1)
    query = urlencode({k: v for k, v in request.GET.items() if k != "page" and v})
    for event in page.object_list:
        event.verb_label = verbs.label(event.verb)
    return render(
        request,
        "core/audit_list.html",
        {
            "form": form,
            "page": page,
            "query": query,
            "filtered": bool(query),
            "export_limit": settings.AUDIT_EXPORT_MAX_ROWS,
            **selectors.audit_chain_status(),
        },
    )


@login_required
@require_GET
def audit_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    if not _may_read_audit(request.user):
        raise PermissionDenied
    event = selectors.audit_event_detail(event_id=event_id)
    if event is None:
        raise Http404(_("No such audit event."))
    event.verb_label = verbs.label(event.verb)
    return render(
        request,
        "core/audit_detail.html",
        {
            "event": event,
            "seal": getattr(event, "seal", None),
            "subjects": selectors.audit_event_subjects(event=event),
            "before": _pretty(event.before),
            "after": _pretty(event.after),
            "data": _pretty(event.data),
        },
    )


def _pretty(value: Any) -> str:
    if value in (None, {}, []):
        return ""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@login_required
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered log as JSON lines, newest first, streamed; at most AUDIT_EXPORT_MAX_ROWS
    events (a last line ``{"truncated": true}`` says when more matched)."""
    if not _may_read_audit(request.user):
        raise PermissionDenied
    form, bad = _audit_filters(request)
    if bad is not None:
        return bad
    limit = settings.AUDIT_EXPORT_MAX_ROWS
    events = _events_for(form)
    response = StreamingHttpResponse(
        _export_lines(events, limit), content_type="application/x-ndjson; charset=utf-8"
    )
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.jsonl"'
    return response


def _export_lines(events, limit: int) -> Iterator[bytes]:
    for count, event in enumerate(events[: limit + 1].iterator(chunk_size=2000)):
        if count == limit:
            yield json.dumps({"truncated": True, "limit": limit}).encode() + b"\n"
            return
        seal = getattr(event, "seal", None)
        row = {
            "id": event.pk,
            "occurred_at": iso_utc(event.occurred_at),
            "actor_type": event.actor_type,
            "actor_id": event.actor_id,
            "actor_label": event.actor_label,
            "verb": event.verb,
            "verb_label": verbs.label(event.verb),
            "target_type": event.target_type,
            "target_id": event.target_id,
            "before": event.before,
            "after": event.after,
            "data": event.data,
            "request_id": event.request_id,
            "seal": {"seq": seal.seq, "hash": seal.hash, "key_id": seal.key_id} if seal else None,
        }
        yield json.dumps(row, ensure_ascii=False, default=str).encode() + b"\n"


# --- Sign-in lockouts (leads) ----------------------------------------------------------------
def _require_lead(request: HttpRequest) -> None:
    if not roles.has_role(request.user, roles.LEAD):
        raise PermissionDenied


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


# --- notifications --------------------------------------------------------------------------
NOTIFICATIONS_PAGE_SIZE = 50


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    """The signed-in person's notifications, newest first, 50 a page."""
    number = request.GET.get("page", "1")
    if not number.isdigit() or not 0 < int(number) <= 1_000_000:
        return HttpResponse(
            _("The parameter “page” must be a whole number from 1."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    rows = notifications.notifications_for(user=request.user)
    page = Paginator(rows, NOTIFICATIONS_PAGE_SIZE).get_page(int(number))
    kinds = {k.key: k.label for k in notifications.kinds()}
    for row in page.object_list:
        row.kind_label = kinds.get(row.kind, row.kind)
        row.body_html = render_markdown(row.body) if row.body_markdown else ""
    return render(request, "core/notifications.html", {"page": page})


@login_required
@require_POST
def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark one read; follow its link when asked to (``follow``) and it has one."""
    try:
        row = notifications.notification_mark_read(
            user=request.user, notification_id=notification_id
        )
    except ServiceError:
        raise Http404(_("No such notification.")) from None
    if request.POST.get("follow") and is_same_origin_path(row.link):
        return redirect(row.link)
    return redirect(safe_next(request, "next", default=reverse("notifications:list")))


@login_required
@require_POST
def notification_mark_all_read(request: HttpRequest) -> HttpResponse:
    count = notifications.notification_mark_all_read(user=request.user)
    if count:
        messages.success(request, _("%(n)s notifications marked read.") % {"n": count})
    return redirect("notifications:list")


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

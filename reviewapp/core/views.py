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
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core import clock

from . import notifications, registry, roles, selectors, signin, verbs
from .audit import Actor
from .db_router import replica_iter
from .exceptions import RoleRequired, ServiceError
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
    roles.require(request.user, roles.LEAD, roles.COMMITTEE)
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
    roles.require(request.user, roles.LEAD, roles.COMMITTEE)
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
    roles.require(request.user, roles.LEAD, roles.COMMITTEE)
    form, bad = _audit_filters(request)
    if bad is not None:
        return bad
    limit = settings.AUDIT_EXPORT_MAX_ROWS
    events = _events_for(form)
    # Streamed from the replica when one is configured (db_router: the newest events may lag).
    response = StreamingHttpResponse(
        replica_iter(_export_lines(events, limit)),
        content_type="application/x-ndjson; charset=utf-8",
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
    roles.require(request.user, roles.LEAD)


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


# --- error pages: JSON under /api/, the site's own framed pages elsewhere ------------------
def _api_error(request: HttpRequest, status: int, message: str) -> JsonResponse | None:
    if request.path.startswith("/api/"):
        return JsonResponse({"errors": {"detail": [message]}}, status=status)
    return None


def _back_link(request: HttpRequest) -> str:
    """Where "Go back" leads: the page the user came from when it is on this site (and not
    the page that failed), else their start page."""
    referer = request.META.get("HTTP_REFERER", "")
    host = request.get_host() if referer else ""
    for prefix in (f"http://{host}", f"https://{host}"):
        if host and referer.startswith(prefix + "/"):
            path = referer[len(prefix) :]
            if is_same_origin_path(path) and path != request.get_full_path():
                return path
    return reverse("home")


def _leads(limit: int = 5) -> list[str]:
    """The leads to ask for a role or a pool (a few names, by username)."""
    from django.contrib.auth import get_user_model

    return list(
        get_user_model()
        .objects.filter(groups__name=roles.LEAD, is_active=True)
        .order_by("username")
        .values_list("username", flat=True)[:limit]
    )


def _section_roles(request: HttpRequest) -> tuple[str, ...]:
    """The roles of the top-bar section the refused page belongs to, for a refusal that did
    not name its own."""
    namespace = request.resolver_match.namespace if request.resolver_match else ""
    for section in registry.nav_sections():
        if section.key == namespace and section.roles is not None:
            return tuple(r for r in roles.ROLES if r in section.roles)
    return ()


def _forbidden_context(request: HttpRequest, exception: Exception | None) -> dict[str, Any]:
    message = ""
    if exception is not None and exception.args and str(exception.args[0]):
        message = str(exception.args[0])
    needed: tuple[str, ...] = ()
    model = None
    if isinstance(exception, RoleRequired):
        needed, model = exception.roles, exception.model
    if not needed and not model and not message:
        # A refusal that gives no reason of its own: the roles of the page's section.
        needed = _section_roles(request)
    contacts = None
    if model:
        found = registry.run_hooks("core.model_contacts", slug=model)
        contacts = found[0] if found else {"slug": model, "owners": [], "leads": _leads()}
    return {
        "message": message,
        "needed_roles": roles.role_labels(needed),
        "contacts": contacts,
        "leads": [] if contacts else _leads(),
        "back": _back_link(request),
    }


def bad_request(request: HttpRequest, exception: Exception | None = None):
    return _api_error(request, 400, "Bad request.") or defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None):
    api = _api_error(request, 403, "You do not have permission to do this.")
    if api is not None:
        return api
    return render(request, "403.html", _forbidden_context(request, exception), status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None):
    # An API path no endpoint matches (a slug with characters a slug cannot hold, an unknown
    # path): the API's error shape, not an HTML page a client cannot read.
    api = _api_error(request, 404, "Not found.")
    if api is not None:
        return api
    return render(request, "404.html", {"back": _back_link(request)}, status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form sent from a page that is too old (the session changed, the
    user signed out and in again in another tab) or from another site. The framed 403 page
    says so and how to go on; the API answers JSON."""
    api = _api_error(request, 403, "CSRF check failed: send the X-CSRFToken header with a session.")
    if api is not None:
        return api
    return render(
        request, "403_csrf.html", {"reason": reason, "back": _back_link(request)}, status=403
    )


def server_error(request: HttpRequest):
    """The 500 page is rendered without the request: no context processor runs, so nothing
    here touches the database, the session or the user (any of which may be what broke)."""
    api = _api_error(request, 500, "Server error.")
    if api is not None:
        return api
    try:
        body = loader.get_template("500.html").render({"request_id": _request_id(request)})
    except Exception:  # noqa: BLE001 - the page of last resort must not fail in turn
        logger.exception("The 500 page itself failed to render")
        body = "<h1>Server error</h1><p>Something went wrong on our side. Try again shortly.</p>"
    return HttpResponse(body, status=500)


def _request_id(request: HttpRequest) -> str:
    try:
        return str(getattr(request, "request_id", "") or request.headers.get("X-Request-ID", ""))
    except Exception:  # noqa: BLE001
        return ""
